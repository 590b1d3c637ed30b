#!/usr/bin/env bash
# Builds examples/null-backend the way a third party would: against an
# installed Hive, finding it through pkg-config only, then checks that the
# installed hive-host loads it and that it exports only the two entry points.
#   usage: null_backend_example_test.sh <hive build dir> <example source dir> <scratch root>
set -euo pipefail

build_dir=$1
example_src=$2
scratch_root=$3

fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$scratch_root"
work=$(mktemp -d "$scratch_root/null-backend-XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log" >&2; fail "cmake --install failed"; }

pc=$(find "$prefix" -name hive-plugin.pc -print -quit)
[[ -n $pc ]] || fail "install put no hive-plugin.pc under $prefix"
[[ -x $prefix/bin/hive-host ]] || fail "install put no bin/hive-host under $prefix"
pc_dir=$(dirname "$pc")

# Only PKG_CONFIG_PATH points at the install; nothing else is given.
export PKG_CONFIG_PATH=$pc_dir
cflags=$(pkg-config --cflags hive-plugin) || fail "pkg-config does not know hive-plugin"
inc=$(pkg-config --variable=includedir hive-plugin)
[[ -f $inc/hive_abi.h ]] || fail "hive-plugin.pc says includedir=$inc, which has no hive_abi.h \
(installed to $prefix): the .pc file must be relocatable, e.g. prefix=\${pcfiledir}/../.."
[[ $cflags == *-fvisibility=hidden* ]] \
  || fail "pkg-config --cflags lacks -fvisibility=hidden: $cflags"

cmake -S "$example_src" -B "$work/build" >"$work/configure.log" 2>&1 \
  || { cat "$work/configure.log" >&2; fail "configuring the example failed"; }
cmake --build "$work/build" >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; fail "building the example failed"; }
so=$work/build/null-backend.so
[[ -f $so ]] || fail "the example did not produce $so"

exports=$(nm -D --defined-only "$so" | awk '$2 != "A" { print $2, $3 }' | sort | tr '\n' ' ')
[[ $exports == "T hive_plugin_init T hive_plugin_query " ]] \
  || fail "null-backend.so must export exactly the two entry points, exports: $exports"

json=$("$prefix/bin/hive-host" --plugin-dir "$work/build" --no-default-plugins plugins --json) \
  || fail "installed hive-host plugins --json exited non-zero"
entry=$(jq -ce '[.plugins[] | select(.file | endswith("null-backend.so"))]
                | if length == 1 then .[0] else error("expected one null-backend.so entry") end' \
          <<<"$json") || fail "no single null-backend.so entry in: $json"
# the ABI version of the installed header the example was built against
abi=$(awk '/^#define HIVE_ABI_MAJOR/ {M = $3} /^#define HIVE_ABI_MINOR/ {m = $3} END {print M "." m}' \
        "$prefix/include/hive/hive_abi.h")
jq -e --arg abi "$abi" '.status == "loaded" and .name == "null" and .kind == "backend"
       and .abi == $abi and .agreed_minor == ($abi | split(".")[1] | tonumber)
       and .devices[0].score == 1 and .devices[0].reason == "null backend: does nothing"' \
   <<<"$entry" >/dev/null || fail "null backend not loaded as expected: $entry"
echo "null backend example: built with pkg-config, loaded by the installed hive-host"

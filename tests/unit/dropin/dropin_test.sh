#!/usr/bin/env bash
# "Drop a new backend .so", end to end, the way a vendor or user would:
#   1. cmake --install the build into a temporary prefix;
#   2. an empty plugin dir: `plugins` lists nothing, `--backend null` fails
#      with a message that names the directory searched;
#   3. build examples/null-backend out of tree with only the installed
#      hive-plugin.pc, copy null-backend.so into the dir: it is listed as
#      loaded and `--backend null` selects it; dropping it into the installed
#      default plugin dir works without any --plugin-dir;
#   4. remove the .so: the same clear message as in 2;
#   5. a backend built for the NEXT ABI major (the ABI fixture source with
#      abi_major = HIVE_ABI_MAJOR + 1): refused with "ABI major mismatch", and
#      `--backend` on it says why.
#   usage: dropin_test.sh <hive build dir> <hive source dir> <scratch root>
set -euo pipefail

build_dir=$1
src_dir=$2
scratch_root=$3
CC=${CC:-cc}

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "-- $*"; }
command -v jq >/dev/null || fail "jq is required (apt-get install jq)"

mkdir -p "$scratch_root"
work=$(mktemp -d "$scratch_root/dropin-XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
drop=$work/plugins            # the directory we drop plugins into
mkdir -p "$drop"

# The host must see only what this test gives it.
unset HIVE_PLUGIN_PATH HIVE_CONFIG

# run OUT ERR -- args...: runs the installed hive-host, stdout/stderr to files;
# returns its exit status without tripping set -e.
run() {
  local out=$1 err=$2; shift 3
  local rc=0
  "$host" "$@" >"$out" 2>"$err" || rc=$?
  return $rc
}

step "install into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log" >&2; fail "cmake --install failed"; }
host=$prefix/bin/hive-host
[[ -x $host ]] || fail "install put no bin/hive-host under $prefix"
pc=$(find "$prefix" -name hive-plugin.pc -print -quit)
[[ -n $pc ]] || fail "install put no hive-plugin.pc under $prefix"
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
plugindir=$(pkg-config --variable=plugindir hive-plugin)
[[ -d $plugindir ]] || fail "pkg-config plugindir $plugindir does not exist in the install"
abi_major=$(pkg-config --variable=abi_major hive-plugin)
[[ $abi_major =~ ^[0-9]+$ ]] || fail "hive-plugin.pc has no numeric abi_major variable: '$abi_major'"

# ---------------------------------------------------------------- 2. empty
expect_missing() {   # $1: what state we are in, for the message
  local rc=0
  run "$work/list.txt" "$work/list.err" -- --no-default-plugins --plugin-dir "$drop" plugins || rc=$?
  [[ $rc == 0 ]] || fail "$1: 'plugins' exited $rc: $(cat "$work/list.err")"
  grep -q "no plugin files found" "$work/list.txt" \
    || fail "$1: 'plugins' on an empty dir should say 'no plugin files found':
$(cat "$work/list.txt")"
  run "$work/list.json" "$work/list.err" -- --no-default-plugins --plugin-dir "$drop" plugins --json \
    || fail "$1: 'plugins --json' exited non-zero"
  jq -e '.plugins == [] and .selected == null' "$work/list.json" >/dev/null \
    || fail "$1: expected no plugins and no selection: $(cat "$work/list.json")"

  rc=0
  run "$work/sel.json" "$work/sel.err" -- --no-default-plugins --plugin-dir "$drop" --backend null \
      plugins --json || rc=$?
  [[ $rc != 0 ]] || fail "$1: --backend null succeeded with no null plugin present"
  local want="backend 'null' was requested but no plugin of that name was found (searched: $drop)"
  grep -qF "$want" "$work/sel.err" \
    || fail "$1: --backend null: unclear message; want '$want', got: $(cat "$work/sel.err")"
}
step "empty plugin dir: nothing listed, --backend null refused"
expect_missing "empty dir"

# ------------------------------------------------------- 3. drop it in
step "build examples/null-backend against the installed hive-plugin.pc"
cmake -S "$src_dir/examples/null-backend" -B "$work/null-build" >"$work/null-cfg.log" 2>&1 \
  || { cat "$work/null-cfg.log" >&2; fail "configuring the null backend example failed"; }
cmake --build "$work/null-build" >"$work/null-build.log" 2>&1 \
  || { cat "$work/null-build.log" >&2; fail "building the null backend example failed"; }
so=$work/null-build/null-backend.so
[[ -f $so ]] || fail "the example did not produce $so"

step "drop null-backend.so into the empty dir"
cp "$so" "$drop/"
run "$work/list.json" "$work/list.err" -- --no-default-plugins --plugin-dir "$drop" plugins --json \
  || fail "plugins --json exited non-zero: $(cat "$work/list.err")"
jq -e --arg f "$drop/null-backend.so" \
   '(.plugins | length) == 1 and .plugins[0].file == $f and .plugins[0].status == "loaded"
    and .plugins[0].name == "null" and .plugins[0].kind == "backend"' "$work/list.json" >/dev/null \
  || fail "null-backend.so not listed as the one loaded plugin: $(cat "$work/list.json")"
run "$work/sel.json" "$work/sel.err" -- --no-default-plugins --plugin-dir "$drop" --backend null \
    plugins --json || fail "--backend null with the plugin present failed: $(cat "$work/sel.err")"
jq -e '.selected.backend == "null" and .selected.device == 0' "$work/sel.json" >/dev/null \
  || fail "--backend null did not select it: $(cat "$work/sel.json")"

step "drop null-backend.so into the installed default plugin dir (no --plugin-dir)"
cp "$so" "$plugindir/"
run "$work/def.json" "$work/def.err" -- --backend null plugins --json \
  || fail "installed host with the default dirs: --backend null failed: $(cat "$work/def.err")"
jq -e '.selected.backend == "null"
       and ([.plugins[] | select(.name == "null" and .status == "loaded")] | length) == 1
       and ([.plugins[] | select(.status != "loaded")] | length) == 0' "$work/def.json" >/dev/null \
  || fail "default plugin dir: null not loaded+selected, or an installed plugin not loaded:
$(cat "$work/def.json")"
rm -f "$plugindir/null-backend.so"

# ----------------------------------------------------------- 4. take it out
step "remove null-backend.so: back to the clear message"
rm -f "$drop/null-backend.so"
expect_missing "after removing null-backend.so"

# ---------------------------------------------------- 5. next ABI major
next=$((abi_major + 1))
step "a backend built for ABI $next.x is refused"
fixtures=$src_dir/tests/abi/fixtures
# shellcheck disable=SC2046  # pkg-config output is meant to word-split
"$CC" -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags hive-plugin) -I"$fixtures" \
  -DFIXTURE_NAME='"next-major"' -DFIXTURE_ABI_MAJOR="(HIVE_ABI_MAJOR + 1)" \
  -o "$drop/next-major.so" "$fixtures/configurable_backend.c" "$fixtures/stub_backend.c" \
  $(pkg-config --libs hive-plugin) >"$work/next.log" 2>&1 \
  || { cat "$work/next.log" >&2; fail "building the next-major fixture failed"; }
run "$work/list.json" "$work/list.err" -- --no-default-plugins --plugin-dir "$drop" plugins --json \
  || fail "plugins --json exited non-zero: $(cat "$work/list.err")"
jq -e --arg abi "$next." \
   '(.plugins | length) == 1 and .plugins[0].status == "rejected"
    and .plugins[0].name == "next-major" and (.plugins[0].abi | startswith($abi))
    and (.plugins[0].reason | contains("ABI major mismatch"))' "$work/list.json" >/dev/null \
  || fail "next-major.so not rejected with 'ABI major mismatch': $(cat "$work/list.json")"
rc=0
run "$work/sel.json" "$work/sel.err" -- --no-default-plugins --plugin-dir "$drop" --backend next-major \
    plugins || rc=$?
[[ $rc != 0 ]] || fail "--backend next-major succeeded"
grep -q "backend 'next-major' was requested but its plugin .* was rejected: ABI major mismatch" \
  "$work/sel.err" || fail "--backend next-major: unclear message: $(cat "$work/sel.err")"

echo "drop-in: empty -> null-backend.so loaded and selected -> removed -> ABI $next plugin refused"

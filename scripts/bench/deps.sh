# deps.sh — sourced by gpu-vs-torch.sh and ../gpu-check.sh: Hive's build dependencies from the
# system, else from .deb files in scripts/bench/debs/ (git-ignored; HIVE_BENCH_DEBS), unpacked
# under /tmp/hive-bench-deps (never into /). The device machines have CUDA, CMake and PyTorch but
# not our -dev packages, and no network. Needs die() and say() from the caller.
# HIVE_DEPS_MODULES: pkg-config modules required (default: the host's; the tests add cmocka).
DEPS=/tmp/hive-bench-deps
DEPS_DEBS=${HIVE_BENCH_DEBS:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/debs}
: "${HIVE_DEPS_MODULES:=libconfig libcjson libpcre2-8 libcrypto}"
HIVE_LD=""
have_deps() {
    # shellcheck disable=SC2086
    command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $HIVE_DEPS_MODULES 2>/dev/null &&
        { [ -f /usr/include/uthash.h ] || [ -f /usr/local/include/uthash.h ] || [ -f "$DEPS/usr/include/uthash.h" ]; }
}
use_debs() {
    local debs=("$DEPS_DEBS"/*.deb)
    [ -e "${debs[0]}" ] || return 1
    command -v dpkg >/dev/null 2>&1 || return 1
    mkdir -p "$DEPS"
    for d in "${debs[@]}"; do dpkg -x "$d" "$DEPS" || return 1; done
    # .pc files say prefix=/usr: point them at the unpacked tree
    find "$DEPS" -name '*.pc' -path '*pkgconfig*' -exec sed -i -E "s#(^[a-z_]+=|-I|-L)/usr#\1$DEPS/usr#g" {} +
    local ml=$DEPS/usr/lib/x86_64-linux-gnu
    export PATH="$PATH:$DEPS/usr/bin"
    export PKG_CONFIG_PATH="$ml/pkgconfig:$DEPS/usr/lib/pkgconfig:$DEPS/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export CMAKE_PREFIX_PATH="$DEPS/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    HIVE_LD="$ml"
    return 0
}
ensure_deps() {
    have_deps && return 0
    say "build dependencies missing here; unpacking $DEPS_DEBS/*.deb into $DEPS"
    use_debs || die "missing build dependencies (pkg-config modules $HIVE_DEPS_MODULES, uthash.h) and no .deb files in $DEPS_DEBS — see scripts/bench/README.md ('Build dependencies')"
    # the unpacked pkg-config binary needs its library too
    export LD_LIBRARY_PATH="$HIVE_LD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    have_deps || die "still missing build dependencies after unpacking the .debs (pkg-config --exists $HIVE_DEPS_MODULES failed)"
}
# hive-host with the unpacked libraries (if any) on its library path, nothing else's
hive_cmd() { if [ -n "$HIVE_LD" ]; then HIVE=(env "LD_LIBRARY_PATH=$HIVE_LD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$HOST"); else HIVE=("$HOST"); fi; }
hive() { hive_cmd; "${HIVE[@]}" "$@"; }

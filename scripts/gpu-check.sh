#!/bin/bash
# gpu-check.sh — the GPU checks of the CUDA backend, in one command on a machine with an NVIDIA GPU
# (build dependencies missing there come from .deb files in scripts/bench/debs/: scripts/bench/README.md):
#   1. build: the cuda plugin for one architecture, tests on, into --build (default build-gpu-check/)
#   2. unit: ctest -R gpu — every op, segmented LoRA (SGMV) and graph capture/replay against scalar
#      references on the GPU (they skip, saying why, when there is no device)
#   3. suite: the whole ctest suite with HIVE_TEST_BACKEND=cuda, so the goldens run on the GPU:
#      logits vs transformers and PEFT (tests/golden), decode graphs vs op by op, and the GPU
#      against onednn-cpu in f32 / bf16 / q8_0 (test_golden_backend_parity; tolerances in
#      docs/TESTING.md)
#   4. memcheck: compute-sanitizer --tool memcheck on a short greedy generate with a LoRA expert
# Usage: scripts/gpu-check.sh [--build DIR] [--out DIR] [--arch SM] [--backend cuda|hip] [--no-build]
#        [--skip-suite] [--skip-memcheck]
# Files in --out (default $OUT, else <build>/gpu-check): build.log unit.log suite.log memcheck.log
# summary.txt plugins.txt device.log. Exit 0 all passed, 1 a step failed, 2 usage, 3 no usable device (step 2 says why).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD="$ROOT/build-gpu-check" OUTDIR="" ARCH=90 BACKEND=cuda DO_BUILD=1 SUITE=1 MEMCHECK=1
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$2; shift 2 ;;
        --out) OUTDIR=$2; shift 2 ;;
        --arch) ARCH=$2; shift 2 ;;
        --backend) BACKEND=$2; shift 2 ;;
        --no-build) DO_BUILD=0; shift ;;
        --skip-suite) SUITE=0; shift ;;
        --skip-memcheck) MEMCHECK=0; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
die() { echo "gpu-check: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }
[ -n "$OUTDIR" ] || OUTDIR=${OUT:-$BUILD/gpu-check}
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd) || die "cannot create $OUTDIR"
T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - T0 ))s"; }
SUMMARY=$OUTDIR/summary.txt
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY" >&2; }
FAILED=0

HIVE_DEPS_MODULES="libconfig libcjson libpcre2-8 libcrypto cmocka"
. "$HERE/bench/deps.sh"

# ---- 1. build -------------------------------------------------------------------------------------
HOST=$BUILD/bin/hive-host
if [ "$DO_BUILD" = 1 ]; then
    ensure_deps
    [ "$BACKEND" = cuda ] && gpu=(-DHIVE_WITH_CUDA=ON -DHIVE_CUDA_ARCHITECTURES="$ARCH" -DHIVE_WITH_HIP=OFF) ||
        gpu=(-DHIVE_WITH_CUDA=OFF -DHIVE_WITH_HIP=ON)
    gen=(); command -v ninja >/dev/null 2>&1 && [ ! -f "$BUILD/CMakeCache.txt" ] && gen=(-G Ninja)
    say "configure + build $BUILD ($BACKEND) [$(elapsed)]"
    { cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DHIVE_WERROR=ON "${gpu[@]}" &&
        cmake --build "$BUILD" -j"$(nproc)"; } >"$OUTDIR/build.log" 2>&1 ||
        { tail -n 40 "$OUTDIR/build.log" >&2; die "build failed (log: $OUTDIR/build.log)"; }
    note "build: ok ($(elapsed))"
else
    have_deps || use_debs || true # runtime libraries only
fi
[ -x "$HOST" ] || die "no hive-host at $HOST"
[ -n "$HIVE_LD" ] && export LD_LIBRARY_PATH="$HIVE_LD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# ---- device check: a one-token generate on the backend (asked for by name: no fallback) ------------
"$HOST" --plugin-dir "$BUILD/lib/hive/plugins" --no-default-plugins plugins >"$OUTDIR/plugins.txt" 2>&1
if ! "$HOST" --plugin-dir "$BUILD/lib/hive/plugins" --no-default-plugins --backend "$BACKEND" generate \
        --model "$ROOT/tests/golden/data/qwen2" --prompt hi --max-tokens 1 --greedy >"$OUTDIR/device.log" 2>&1; then
    note "device: NO USABLE $BACKEND DEVICE: $(tail -n 1 "$OUTDIR/device.log")"
    exit 3
fi
note "device: $(grep -m1 -A2 "$BACKEND.so" "$OUTDIR/plugins.txt" | tr -s ' \n' ' ')"

# ---- 2. GPU unit tests ----------------------------------------------------------------------------
say "unit: ctest -R gpu [$(elapsed)]"
if ctest --test-dir "$BUILD" -R gpu --output-on-failure -V >"$OUTDIR/unit.log" 2>&1; then
    note "unit: $(grep -c '\[       OK \]' "$OUTDIR/unit.log") cases ok, $(grep -c '\[  SKIPPED \]' "$OUTDIR/unit.log") skipped"
else
    note "unit: FAILED (see unit.log)"; grep -E "FAILED|ERROR" "$OUTDIR/unit.log" | head -20 | tee -a "$SUMMARY" >&2
    FAILED=1
fi

# ---- 3. the suite on the GPU ----------------------------------------------------------------------
if [ "$SUITE" = 1 ]; then
    say "suite: HIVE_TEST_BACKEND=$BACKEND ctest [$(elapsed)]"
    if HIVE_TEST_BACKEND=$BACKEND ctest --test-dir "$BUILD" -j4 --output-on-failure -V >"$OUTDIR/suite.log" 2>&1; then
        note "suite: all passed"
    else
        note "suite: FAILED"; grep -E "tests failed|\(Failed\)|ERROR:" "$OUTDIR/suite.log" | head -20 | tee -a "$SUMMARY" >&2
        FAILED=1
    fi
    grep -E "vs onednn-cpu|graphs, [0-9]+ replays|worst rel err" "$OUTDIR/suite.log" | sed 's/^[0-9]*: //' |
        head -60 >>"$SUMMARY"
fi

# ---- 4. compute-sanitizer on a short generate with an expert ----------------------------------------
if [ "$MEMCHECK" = 1 ]; then
    SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    if [ "$BACKEND" != cuda ] || [ ! -x "$SAN" ]; then
        note "memcheck: skipped (no compute-sanitizer for $BACKEND)"
    else
        ex=$(mktemp -d /tmp/hive-gpu-check-expert-XXXXXX)
        cp -r "$ROOT/tests/golden/data/qwen2/adapters/lora" "$ex/adapter"
        printf '%s' '{"schema_version":"2.0","name":"tiny-lora","version":"0.1.0","description":"memcheck",
"base_models":[{"name":"qwen2","adapters":[{"type":"lora","path":"adapter"}]}]}' >"$ex/manifest.json"
        say "memcheck: compute-sanitizer generate [$(elapsed)]"
        if "$SAN" --tool memcheck --error-exitcode 9 --leak-check full "$HOST" \
                --plugin-dir "$BUILD/lib/hive/plugins" --no-default-plugins --backend "$BACKEND" \
                generate --model "$ROOT/tests/golden/data/qwen2" --expert "$ex" --prompt "Hello there" \
                --max-tokens 12 --greedy >"$OUTDIR/memcheck.log" 2>&1; then
            note "memcheck: clean ($(grep -m1 'ERROR SUMMARY' "$OUTDIR/memcheck.log"))"
        else
            note "memcheck: FAILED (see memcheck.log)"; grep -m10 -E "ERROR SUMMARY|Invalid|Error" "$OUTDIR/memcheck.log" |
                tee -a "$SUMMARY" >&2
            FAILED=1
        fi
        rm -rf "$ex"
    fi
fi
note "done in $(elapsed); $( [ $FAILED = 0 ] && echo 'ALL PASSED' || echo 'SOMETHING FAILED' )"
exit $FAILED

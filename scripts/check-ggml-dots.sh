#!/usr/bin/env bash
# check-ggml-dots.sh — Hive's quantized dot kernels (Q8_0, Q4_0, Q4_1, every kernel level this CPU
# has) against ggml's own vec_dot from llama.cpp, bit for bit (scripts/ggml-parity/ggml_dots.c).
# Builds llama.cpp first if needed (scripts/bench/build-llamacpp.sh, ~8 min once) and Hive's
# kernel library (build/cpu). Usage: scripts/check-ggml-dots.sh [BUILD_DIR]   (default build/cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/cpu}
BIN=$(bash scripts/bench/build-llamacpp.sh --targets "ggml-cpu" | tail -n1)
LLAMA=$(cd "$BIN/../.." && pwd)
[ -f "$BUILD/CMakeCache.txt" ] || cmake --preset cpu >/dev/null
cmake --build "$BUILD" --target onednn-cpu-kernels >/dev/null
KLIB=$(find "$BUILD" -name libonednn-cpu-kernels.a | head -n1)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cc -O2 -std=gnu11 -Iplugins/onednn-cpu/src -Iabi -I"$LLAMA/ggml/include" scripts/ggml-parity/ggml_dots.c \
    "$KLIB" -L"$BIN" -lggml-cpu -lggml-base -lm -Wl,-rpath,"$BIN" -o "$OUT/ggml_dots"
"$OUT/ggml_dots"

#!/usr/bin/env bash
# moe-vs-llamacpp.sh — Hive beside llama.cpp on Qwen3-MoE models, same GGUF, same threads:
#   1. the tiny golden fixtures as llama.cpp's converter writes them (tests/golden/data/qwen3_moe.gguf
#      and qwen2_moe.gguf, f32);
#   2. a random Qwen3-MoE made here (make-moe-model.py: hidden 512, 8 layers, 16 experts, top 4,
#      expert ffn 256; 57 M parameters) converted to q8_0 by llama.cpp's converter (../make-moe-gguf.py).
# Each goes through cpu-vs-llamacpp.sh (alternating runs, medians, hive/llama ratios).
#
# Usage: scripts/bench/moe-vs-llamacpp.sh [--threads T] [--reps R] [--python PY] [-- HIVE_HOST]
#   PY: a Python with scripts/requirements-fixtures.txt (torch, transformers); default python3.
#   LLAMA_BENCH, HIVE_PEER_DIR: as for cpu-vs-llamacpp.sh (the converter comes from the peer's
#   llama.cpp source, scripts/bench/build-llamacpp.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
THREADS=2 REPS=3 PY=python3
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) THREADS=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --python) PY=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        --) shift; break ;;
        *) echo "moe-vs-llamacpp: unknown option $1" >&2; exit 2 ;;
    esac
done
WORK=${XDG_CACHE_HOME:-$HOME/.cache}/hive/moe-bench
mkdir -p "$WORK"
[ -f "$WORK/model/model.safetensors" ] || "$PY" "$HERE/make-moe-model.py" "$WORK/model" >/dev/null
[ -f "$WORK/moe-q8_0.gguf" ] ||
    "$PY" "$ROOT/scripts/make-moe-gguf.py" --model "$WORK/model" --out "$WORK/moe-q8_0.gguf" --outtype q8_0 >/dev/null 2>&1
for tiny in qwen3_moe qwen2_moe; do
    bash "$HERE/cpu-vs-llamacpp.sh" --model "$ROOT/tests/golden/data/$tiny.gguf" --threads "$THREADS" -p 64 -n 128 \
        --reps "$REPS" -- "$@"
done
bash "$HERE/cpu-vs-llamacpp.sh" --model "$WORK/moe-q8_0.gguf" --threads "$THREADS" -p 128 -n 64 --reps "$REPS" -- "$@"

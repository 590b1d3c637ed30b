#!/usr/bin/env bash
# layers-vs-llamacpp.sh — Hive beside llama.cpp on the layer types beyond attention + MLP
# (mixture of experts, Mamba2), same GGUF, same threads:
#   1. the tiny golden fixtures as llama.cpp's converter writes them (tests/golden/data/
#      qwen3_moe.gguf, qwen2_moe.gguf, mamba2.gguf, deepseek_v2_moe.gguf, granitemoehybrid.gguf; f32);
#   2. random models made here (make-random-model.py), converted by llama.cpp's converter
#      (../make-moe-gguf.py): Qwen3-MoE (hidden 512, 8 layers, 16 experts, top 4, expert ffn 256;
#      57 M parameters) as q8_0, Mamba2 (hidden 512, 8 layers, 8 heads, state 64) as f32, and
#      DeepSeek-V2 (hidden 512, 8 layers, 8 heads, latent attention, 16 experts top 4) as q8_0.
# Each goes through cpu-vs-llamacpp.sh (alternating runs, medians, hive/llama ratios).
#
# Usage: scripts/bench/layers-vs-llamacpp.sh [--threads T] [--reps R] [--python PY] [-- HIVE_HOST]
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
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        --) shift; break ;;
        *) echo "layers-vs-llamacpp: unknown option $1" >&2; exit 2 ;;
    esac
done
WORK=${XDG_CACHE_HOME:-$HOME/.cache}/hive/layers-bench
mkdir -p "$WORK"
make_model() { # arch outtype
    [ -f "$WORK/$1/model.safetensors" ] || "$PY" "$HERE/make-random-model.py" "$WORK/$1" --arch "$1" >/dev/null
    [ -f "$WORK/$1-$2.gguf" ] ||
        "$PY" "$ROOT/scripts/make-moe-gguf.py" --model "$WORK/$1" --out "$WORK/$1-$2.gguf" --outtype "$2" >/dev/null 2>&1
}
make_model qwen3_moe q8_0
make_model mamba2 f32
make_model deepseek_v2 q8_0
for tiny in qwen3_moe qwen2_moe mamba2 deepseek_v2_moe granitemoehybrid; do
    bash "$HERE/cpu-vs-llamacpp.sh" --model "$ROOT/tests/golden/data/$tiny.gguf" --threads "$THREADS" -p 64 -n 128 \
        --reps "$REPS" -- "$@"
done
for big in qwen3_moe-q8_0 mamba2-f32 deepseek_v2-q8_0; do
    bash "$HERE/cpu-vs-llamacpp.sh" --model "$WORK/$big.gguf" --threads "$THREADS" -p 128 -n 64 --reps "$REPS" -- "$@"
done

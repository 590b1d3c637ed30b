#!/bin/sh
# run_generate.sh HIVE_HOST: the structured-output generation test (generate_check.py) with the
# pinned validators (scripts/grammar-venv.sh). Exit 77 (ctest: skipped) when the model or the
# validators cannot be had.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
HOST=$1
MODEL=${HIVE_TEST_GGUF:-$HOME/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf}
[ -f "$MODEL" ] || { echo "skipped: $MODEL not found (scripts/fetch-models.sh)"; exit 77; }
PY=$(sh "$ROOT/scripts/grammar-venv.sh") || { echo "skipped: the validators could not be installed"; exit 77; }
exec "$PY" "$HERE/generate_check.py" --host-bin "$HOST" --model "$MODEL" --root "$ROOT"

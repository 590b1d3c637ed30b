#!/bin/sh
# run.sh SCRIPT HIVE_HOST: runs one server test (tests/server/SCRIPT) with the pinned openai
# client (scripts/server-venv.sh). Exit 77 (ctest: skipped) when the model or the client
# cannot be had; the test script itself exits 77 the same way.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SCRIPT=$1
HOST=$2
MODEL=${HIVE_TEST_GGUF:-$HOME/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf}
[ -f "$MODEL" ] || { echo "skipped: $MODEL not found (scripts/fetch-models.sh)"; exit 77; }
PY=$(sh "$ROOT/scripts/server-venv.sh") || { echo "skipped: the openai client could not be installed"; exit 77; }
exec "$PY" "$HERE/$SCRIPT" --host-bin "$HOST" --model "$MODEL" --root "$ROOT"

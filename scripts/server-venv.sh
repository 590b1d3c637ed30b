#!/bin/sh
# server-venv.sh — the Python environment of the server tests (tests/server): the official
# `openai` client and `jsonschema` (an independent check of structured output), pinned, in a
# venv under the Hive cache. Idempotent: does nothing (but print the interpreter) when the venv
# already has those versions. Prints the venv's python on stdout.
#
#   HIVE_CACHE   cache root (default ~/.cache/hive); the venv is $HIVE_CACHE/venv-server
#   PYTHON       interpreter that makes the venv (default python3)
#
# Exit status: 0 ok, 1 the venv or the install failed (no network, no python3-venv).
set -eu
OPENAI_VERSION=3.51.0
JSONSCHEMA_VERSION=4.26.0
CACHE=${HIVE_CACHE:-$HOME/.cache/hive}
VENV=$CACHE/venv-server
PY=${PYTHON:-python3}

have() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<PYEOF 2>/dev/null
import sys
from importlib.metadata import version
import openai, jsonschema
sys.exit(not (version("openai") == "$OPENAI_VERSION" and version("jsonschema") == "$JSONSCHEMA_VERSION"))
PYEOF
}

if ! have; then
    mkdir -p "$CACHE"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" >&2 || { echo "server-venv: cannot make $VENV (python3-venv)" >&2; exit 1; }
    echo "server-venv: installing openai==$OPENAI_VERSION jsonschema==$JSONSCHEMA_VERSION into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "openai==$OPENAI_VERSION" \
        "jsonschema==$JSONSCHEMA_VERSION" >&2 ||
        { echo "server-venv: pip install openai==$OPENAI_VERSION jsonschema==$JSONSCHEMA_VERSION failed" >&2; exit 1; }
    have || { echo "server-venv: openai $OPENAI_VERSION / jsonschema $JSONSCHEMA_VERSION not importable after install" >&2; exit 1; }
fi
echo "$VENV/bin/python"

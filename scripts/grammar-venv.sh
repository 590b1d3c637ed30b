#!/bin/sh
# grammar-venv.sh — the Python environment of the structured-output generation test
# (tests/grammar/generate.sh): independent validators, pinned, in a venv under the Hive cache:
# `jsonschema` for JSON outputs and `pglast` (PostgreSQL's own parser, libpg_query) for SQL.
# Idempotent: does nothing (but print the interpreter) when the venv already has those versions.
# Prints the venv's python on stdout.
#
#   HIVE_CACHE   cache root (default ~/.cache/hive); the venv is $HIVE_CACHE/venv-grammar
#   PYTHON       interpreter that makes the venv (default python3)
#
# Exit status: 0 ok, 1 the venv or the install failed (no network, no python3-venv).
set -eu
JSONSCHEMA_VERSION=4.26.0
PGLAST_VERSION=8.7
CACHE=${HIVE_CACHE:-$HOME/.cache/hive}
VENV=$CACHE/venv-grammar
PY=${PYTHON:-python3}

have() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<PYEOF 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(not (version("jsonschema") == "$JSONSCHEMA_VERSION" and version("pglast") == "$PGLAST_VERSION"))
PYEOF
}

if ! have; then
    mkdir -p "$CACHE"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" >&2 || { echo "grammar-venv: cannot make $VENV (python3-venv)" >&2; exit 1; }
    echo "grammar-venv: installing jsonschema==$JSONSCHEMA_VERSION pglast==$PGLAST_VERSION into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "jsonschema==$JSONSCHEMA_VERSION" \
        "pglast==$PGLAST_VERSION" >&2 || { echo "grammar-venv: pip install failed" >&2; exit 1; }
    have || { echo "grammar-venv: the pinned validators are not importable after install" >&2; exit 1; }
fi
echo "$VENV/bin/python"

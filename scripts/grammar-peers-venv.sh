#!/bin/sh
# grammar-peers-venv.sh — the Python environment of the grammar benchmark's peers
# (scripts/bench/grammar-vs-peers.py), pinned, in a venv under the Hive cache:
#   xgrammar            XGrammar (its wheel imports torch and transformers at import time, so they
#                       come too: PyPI's torch for Linux x86-64 is the CUDA build and does not import
#                       without its nvidia-* libraries; about 5.5 GiB installed, used on the CPU only)
#   llama-cpp-python    llama.cpp's grammar engine through its low-level ctypes API; PyPI has only the
#                       sdist, so pip builds llama.cpp from source the first time (26 min in all on
#                       the busy 2-core machine); built portable (AVX2/FMA/F16C).
#   gguf                reads the Qwen2 vocabulary GGUF to make the vocab-sized model Hive loads
# Idempotent: does nothing (but print the interpreter) when the venv already has those versions.
# Prints the venv's python on stdout.
#
#   HIVE_CACHE   cache root (default ~/.cache/hive); the venv is $HIVE_CACHE/venv-grammar-peers
#   PYTHON       interpreter that makes the venv (default python3; 3.11 is what was tested)
#
# Exit status: 0 ok, 1 the venv or the install failed (no network, no python3-venv, no compiler).
set -eu
XGRAMMAR_VERSION=0.2.9
TORCH_VERSION=2.15.0
TRANSFORMERS_VERSION=5.23.0
LLAMA_CPP_PYTHON_VERSION=0.3.36
GGUF_VERSION=0.19.0
NUMPY_VERSION=2.4.6
TVM_FFI_VERSION=0.1.15.post2
CACHE=${HIVE_CACHE:-$HOME/.cache/hive}
VENV=$CACHE/venv-grammar-peers
PY=${PYTHON:-python3}
PINS="xgrammar==$XGRAMMAR_VERSION torch==$TORCH_VERSION transformers==$TRANSFORMERS_VERSION
llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION gguf==$GGUF_VERSION numpy==$NUMPY_VERSION apache-tvm-ffi==$TVM_FFI_VERSION"

have() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<PYEOF 2>/dev/null
import sys
from importlib.metadata import version
want = {"xgrammar": "$XGRAMMAR_VERSION", "torch": "$TORCH_VERSION", "transformers": "$TRANSFORMERS_VERSION",
        "llama_cpp_python": "$LLAMA_CPP_PYTHON_VERSION", "gguf": "$GGUF_VERSION", "numpy": "$NUMPY_VERSION", "apache-tvm-ffi": "$TVM_FFI_VERSION"}
if any(version(k) != v for k, v in want.items()):
    sys.exit(1)
import xgrammar, llama_cpp, gguf  # noqa: F401  (they import: the install is whole)
PYEOF
}

if ! have; then
    mkdir -p "$CACHE"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" >&2 ||
        { echo "grammar-peers-venv: cannot make $VENV (python3-venv)" >&2; exit 1; }
    echo "grammar-peers-venv: installing" $PINS "into $VENV (5.7 GiB; llama.cpp is compiled: 10-30 min the first time)" >&2
    # shellcheck disable=SC2086
    CMAKE_ARGS=${CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"} \
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check $PINS >&2 ||
        { echo "grammar-peers-venv: pip install failed" >&2; exit 1; }
    have || { echo "grammar-peers-venv: the pinned peers are not importable after install" >&2; exit 1; }
fi
echo "$VENV/bin/python"

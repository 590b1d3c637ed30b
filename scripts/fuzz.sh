#!/usr/bin/env bash
# fuzz.sh — build the libFuzzer harnesses of tests/fuzz (one per file parser)
# with clang into build/fuzz, run each for a while, and fail on any crash,
# leak, timeout or out-of-memory. Ends with "fuzz: N passed, N failed".
#
#   scripts/fuzz.sh [--time SECONDS] [--jobs N] [NAMES...]
#
#   --time S    seconds per harness (default 30); the long run is --time 3600
#   --jobs N    harnesses run side by side (default 1)
#   NAMES       harnesses (default all): gguf safetensors tokenizer_json
#               adapter_config manifest expert_archive gbnf json_schema request
#               hf_config expert_weight
#
# Each harness starts from a scratch copy of tests/fuzz/corpus/<name>/ in
# build/fuzz/runs/<name>/corpus (the committed corpus is never written), with
# leak detection on, -timeout=10 per input and -rss_limit_mb=2048. A failure
# prints the harness, the reproducer (build/fuzz/runs/<name>/crash-*, leak-*,
# timeout-*, oom-*) and the command that replays it; the log is
# build/fuzz/runs/<name>/log. Needs clang and libFuzzer (scripts/install-deps.sh).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

ALL=(gguf safetensors tokenizer_json adapter_config manifest expert_archive gbnf json_schema request
     hf_config expert_weight)
TIME=30
JOBS=1
NAMES=()
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --time) TIME=${2:?--time needs seconds}; shift 2 ;;
    --time=*) TIME=${1#*=}; shift ;;
    --jobs|-j) JOBS=${2:?--jobs needs a number}; shift 2 ;;
    --jobs=*) JOBS=${1#*=}; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "fuzz: unknown option '$1'" >&2; usage 2 ;;
    *) NAMES+=("$1"); shift ;;
  esac
done
[[ $TIME =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: --time must be a positive number of seconds" >&2; exit 2; }
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: --jobs must be a positive number" >&2; exit 2; }
((${#NAMES[@]})) || NAMES=("${ALL[@]}")
for n in "${NAMES[@]}"; do
  [[ " ${ALL[*]} " == *" $n "* ]] || { echo "fuzz: no harness '$n' (have: ${ALL[*]})" >&2; exit 2; }
done
command -v clang >/dev/null || { echo "fuzz: clang is required (scripts/install-deps.sh)" >&2; exit 2; }

# ------------------------------------------------------------------ build
BUILD=$ROOT/build/fuzz
RUNS=$BUILD/runs
mkdir -p "$RUNS"
echo "== fuzz: build (clang, libFuzzer + ASan + UBSan) into build/fuzz"
if ! cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
     -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHIVE_FUZZ=ON -DHIVE_WERROR=ON -DHIVE_BUILD_TESTS=OFF \
     -DHIVE_WITH_ONEDNN=OFF -DHIVE_WITH_CUDA=OFF -DHIVE_WITH_HIP=OFF >"$RUNS/configure.log" 2>&1 \
   || ! cmake --build "$BUILD" --target hive_fuzzers -j "$(nproc 2>/dev/null || echo 2)" >"$RUNS/build.log" 2>&1; then
  tail -n 40 "$RUNS/configure.log" "$RUNS/build.log" 2>/dev/null >&2
  echo "fuzz: build failed (logs: $RUNS/configure.log, $RUNS/build.log)"
  echo "fuzz: 0 passed, ${#NAMES[@]} failed"
  exit 1
fi

# ------------------------------------------------------------------ runs
# run_one NAME: fuzzes NAME for TIME seconds; writes its verdict to runs/NAME/result.
run_one() {
  local n=$1 dir=$RUNS/$1 bin=$BUILD/fuzz/fuzz_$1
  rm -rf "$dir"
  mkdir -p "$dir/corpus"
  cp -r "$ROOT/tests/fuzz/corpus/$n/." "$dir/corpus/"
  local rc=0
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bin" -max_total_time="$TIME" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 \
    -artifact_prefix="$dir/" "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
  local execs cov repro
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -n 1 | cut -d' ' -f2)
  repro=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) |
          head -n 1)
  if ((rc == 0)) && [[ -z $repro ]]; then
    echo "ok     $n: ${TIME}s, ${execs:-?} executions, coverage ${cov:-?}" >"$dir/result"
  else
    {
      echo "FAIL   $n: exit $rc after ${execs:-?} executions; $(grep -m1 -E '^==[0-9]+==ERROR|runtime error|ERROR: libFuzzer' "$dir/log" || echo 'see the log')"
      echo "       reproducer: ${repro:-none written} (log: $dir/log)"
      [[ -n $repro ]] && echo "       replay: $bin $repro"
    } >"$dir/result"
  fi
}

echo "== fuzz: ${#NAMES[@]} harness(es), ${TIME}s each, $JOBS at a time"
running=0
for n in "${NAMES[@]}"; do
  if ((running >= JOBS)); then wait -n; running=$((running - 1)); fi
  run_one "$n" &
  running=$((running + 1))
done
wait

passed=0; failed=0
for n in "${NAMES[@]}"; do
  if [[ -f $RUNS/$n/result ]]; then cat "$RUNS/$n/result"; else echo "FAIL   $n: no result (log: $RUNS/$n/log)"; fi
  if grep -q '^ok ' "$RUNS/$n/result" 2>/dev/null; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))

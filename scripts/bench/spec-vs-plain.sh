#!/usr/bin/env bash
# spec-vs-plain.sh — speculative decoding against plain decoding, side by side,
# on the shipped experts' own held-out prompts (examples/experts/golden.json),
# lookup over the prompt alone (--draft-corpus none) and with the expert's own
# draft corpus (the default), open-ended chat, and the draft-model and base
# drafters (docs/SPECULATIVE.md).
#
# Usage: scripts/bench/spec-vs-plain.sh [--threads T] [--reps R] [--only lookup|model|base]
# Env:   HIVE_HOST  hive-host binary (default build/cpu/bin/hive-host), MODEL the GGUF
#        (default ~/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf, scripts/fetch-models.sh)
# Each row is one `hive-host bench --draft ... --greedy -r R --json` command: it decodes the
# prompt plainly and with speculation, alternating, R times each, and reports the best of each;
# greedy, so the counts (acceptance, passes) are deterministic and the outputs must be identical.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=2 reps=3 only=""
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) threads=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "spec-vs-plain: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
host=${HIVE_HOST:-build/cpu/bin/hive-host}
model=${MODEL:-$HOME/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf}
[ -x "$host" ] || { echo "spec-vs-plain: no $host (cmake --preset cpu && cmake --build build/cpu)" >&2; exit 1; }
[ -f "$model" ] || { echo "spec-vs-plain: no $model (scripts/fetch-models.sh)" >&2; exit 1; }
E=examples/experts
S=$'Schema: users(id, name, age, city); orders(id, user_id, product, amount)\n'
story="Write a short story about a dragon who learns to bake bread."
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); threads $threads; best of $reps"
printf '%-22s %4s %8s %8s %7s %5s %8s %9s %4s %s\n' case tok plain spec speedup acc acc/pass passes off same
failed=0
row() {
    local name=$1
    shift
    local out
    if ! out=$("$host" --cpu --threads "$threads" bench --model "$model" --greedy -r "$reps" --json "$@" 2>&1 | tail -1); then
        echo "$name: hive-host bench failed: $out" >&2
        failed=1
        return
    fi
    python3 -c '
import json, sys
d = json.loads(sys.argv[2])
print("%-22s %4d %8.1f %8.1f %7.2f %4.0f%% %8.2f %4d/%-4d %4d %s" % (sys.argv[1], d["n_gen_spec"],
      d["decode_tok_s_plain"], d["decode_tok_s_spec"], d["speedup"], 100 * d["acceptance"], d["mean_accepted"],
      d["verify_passes"], d["plain_steps"], d["times_off"], d["identical_output"]))
sys.exit(0 if d["identical_output"] else 1)' "$name" "$out" || failed=1
}
if [ -z "$only" ] || [ "$only" = lookup ]; then
    N="--draft-corpus none" # lookup over the prompt and the text so far alone
    row "lookup SQL 1" --draft lookup $N --expert $E/sql.expert --chat -n 64 --prompt "${S}Question: Which users live in Toronto?"
    row "lookup SQL 2" --draft lookup $N --expert $E/sql.expert --chat -n 64 --prompt "${S}Write the SQL query: How many users are older than 35?"
    row "lookup SQL 3" --draft lookup $N --expert $E/sql.expert --chat -n 64 --prompt "${S}Question: What is the total amount of all orders for user 7?"
    row "lookup JSON 1" --draft lookup $N --expert $E/json.expert --chat -n 64 --prompt "Extract the person as JSON: Oliver is 29 years old and lives in Toronto."
    row "lookup JSON 2" --draft lookup $N --expert $E/json.expert --chat -n 64 --prompt "Return JSON with name, age and city. Text: Priya, age 41, works as a nurse in Nairobi."
    row "lookup JSON 3" --draft lookup $N --expert $E/json.expert --chat -n 64 --prompt "Kenji (63) retired to Oslo last spring. Give me the name, age and city as JSON."
    # the expert's own corpus (its manifest's training.decoding.draft_corpus), as --draft lookup runs by default
    row "corpus SQL 1" --draft lookup --expert $E/sql.expert --chat -n 64 --prompt "${S}Question: Which users live in Toronto?"
    row "corpus SQL 2" --draft lookup --expert $E/sql.expert --chat -n 64 --prompt "${S}Write the SQL query: How many users are older than 35?"
    row "corpus SQL 3" --draft lookup --expert $E/sql.expert --chat -n 64 --prompt "${S}Question: What is the total amount of all orders for user 7?"
    row "corpus JSON 1" --draft lookup --expert $E/json.expert --chat -n 64 --prompt "Extract the person as JSON: Oliver is 29 years old and lives in Toronto."
    row "corpus JSON 2" --draft lookup --expert $E/json.expert --chat -n 64 --prompt "Return JSON with name, age and city. Text: Priya, age 41, works as a nurse in Nairobi."
    row "corpus JSON 3" --draft lookup --expert $E/json.expert --chat -n 64 --prompt "Kenji (63) retired to Oslo last spring. Give me the name, age and city as JSON."
    row "lookup chat" --draft lookup --chat -n 128 --prompt "$story"
    row "lookup ia3" --draft lookup --expert $E/ia3.expert --chat -n 64 --prompt "What is the capital of Norway?"
    row "lookup soft-prompt" --draft lookup --expert $E/soft-prompt.expert --chat -n 64 --prompt "Say hello to Priya."
fi
if [ -z "$only" ] || [ "$only" = model ]; then
    row "f32 <- q4_1 story" --weights f32 --draft-model "$model" --draft-weights q4_1 --chat -n 64 --prompt "$story"
    row "f32 <- q4_1 story 128" --weights f32 --draft-model "$model" --draft-weights q4_1 --chat -n 128 --prompt "$story"
    row "f32 <- q4_1 SQL 1" --weights f32 --draft-model "$model" --draft-weights q4_1 --expert $E/sql.expert --chat -n 64 --prompt "${S}Question: Which users live in Toronto?"
    row "f32 <- q4_1 JSON 1" --weights f32 --draft-model "$model" --draft-weights q4_1 --expert $E/json.expert --chat -n 64 --prompt "Extract the person as JSON: Oliver is 29 years old and lives in Toronto."
    row "q4_1 <- q4_0 story" --draft-model "$model" --draft-weights q4_0 --chat -n 64 --prompt "$story"
fi
if [ -z "$only" ] || [ "$only" = base ]; then
    row "base JSON 1" --draft base --expert $E/json.expert --chat -n 64 --prompt "Extract the person as JSON: Oliver is 29 years old and lives in Toronto."
    row "base ia3" --draft base --expert $E/ia3.expert --chat -n 64 --prompt "What is the capital of Norway?"
fi
exit $failed

#!/bin/bash
# cpu-vs-llamacpp.sh — Hive CPU vs llama.cpp's llama-bench, same GGUF, same threads, one run.
#
# Usage: scripts/bench/cpu-vs-llamacpp.sh [options] [-- HIVE_HOST [extra hive args...]]
#   --model PATH     GGUF (default: what scripts/fetch-models.sh prints, SmolLM2-135M-Instruct Q4_1)
#   --threads N      threads for both (default 2)
#   -p N / -n N      prompt tokens / generated tokens (default 512 / 128)
#   -d N             decode test starts with N tokens in the KV cache, on both sides (default 0:
#                    llama-bench's plain tgN; the prompt test is always from an empty cache)
#   --reps R         repetitions: hive runs R times (median taken), llama-bench -r R (mean) (default 3)
#   --json FILE      also write the parsed figures as JSON
#   HIVE_HOST        hive-host binary (default build/bin/hive-host, build/cpu/bin/hive-host, or hive-host on PATH);
#                    extra args (e.g. --plugin-dir build/plugins) are passed before the bench flags.
# Env: LLAMA_BENCH=path to an existing llama-bench; otherwise it is built on demand by
#      scripts/bench/build-llamacpp.sh (llama.cpp from llama-cpp-python's sdist on PyPI) into
#      $HIVE_PEER_DIR (default ${XDG_CACHE_HOME:-~/.cache}/hive/peer; about 8 min once).
#      HIVE_CPU_ISA caps Hive's kernel level (scalar|avx2|avxvnni|avx512|avx512vnni).
#
# Hive is invoked as:  HIVE_HOST [extra] bench --model PATH -p P -n N -d D --threads T --json
# and must print one JSON object {"prefill_tok_s":..,"decode_tok_s":..,"ttft_ms":..,"peak_rss_mb":..}
# (the last line of stdout that parses as such an object is used). llama-bench runs as
#   llama-bench -m PATH -p P -n N -d D -t T -r 1 -o json
# Runs alternate (hive, llama-bench, hive, ...) so drift in machine load hits both sides alike.
# Ratio = hive / llama.cpp (> 1 means Hive is faster). Exit 0 on success, 1 on any failure.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODEL="" THREADS=2 NP=512 NG=128 DEPTH=0 REPS=3 JSON_OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --model) MODEL=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        -p) NP=$2; shift 2 ;;
        -d|--depth) DEPTH=$2; shift 2 ;;
        -n) NG=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --json) JSON_OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        --) shift; break ;;
        *) break ;;
    esac
done

die() { echo "cpu-vs-llamacpp: $*" >&2; exit 1; }

if [ $# -gt 0 ]; then HIVE=("$@"); else
    for c in "$ROOT/build/bin/hive-host" "$ROOT/build/cpu/bin/hive-host" "$(command -v hive-host || true)"; do
        [ -n "$c" ] && [ -x "$c" ] && { HIVE=("$c"); break; }
    done
    [ -n "${HIVE+x}" ] || die "no hive-host found; pass it after --"
fi

[ -n "$MODEL" ] || MODEL=$("$ROOT/scripts/fetch-models.sh") || die "fetch-models.sh failed"
[ -f "$MODEL" ] || die "model not found: $MODEL"

LB=${LLAMA_BENCH:-}
if [ -z "$LB" ]; then
    BIN=$("$HERE/build-llamacpp.sh" --targets llama-bench | tail -n1) || die "building llama-bench failed"
    LB=$BIN/llama-bench
fi
[ -x "$LB" ] || die "llama-bench not executable: $LB"

TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
echo "model: $MODEL  threads: $THREADS  p=$NP n=$NG reps=$REPS" >&2
for ((i = 1; i <= REPS; i++)); do
    echo "  [$i/$REPS] hive: ${HIVE[*]} bench ..." >&2
    "${HIVE[@]}" bench --model "$MODEL" -p "$NP" -n "$NG" -d "$DEPTH" --threads "$THREADS" --json \
        > "$TMP/hive.$i.out" 2> "$TMP/hive.$i.err" \
        || { cat "$TMP/hive.$i.err" >&2; die "hive bench failed (run $i)"; }
    echo "  [$i/$REPS] llama-bench ..." >&2
    LB_DEPTHS=0; [ "$DEPTH" != 0 ] && LB_DEPTHS="0,$DEPTH"   # pp from empty, tg from DEPTH
    "$LB" -m "$MODEL" -p "$NP" -n "$NG" -d "$LB_DEPTHS" -t "$THREADS" -r 1 -o json \
        > "$TMP/lb.$i.out" 2> "$TMP/lb.$i.err" \
        || { cat "$TMP/lb.$i.err" >&2; die "llama-bench failed (run $i)"; }
done

CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown)
HIVE_DEV=$("${HIVE[@]}" plugins 2>/dev/null | grep -m1 -E "^ +device 0: .*\((scalar|avx2|avxvnni|avx512|avx512vnni)\)" | sed "s/^ *//" || true)
echo "cpu: $CPU_MODEL; flags: $(grep -m1 -o -w -E 'avx512_vnni|avx_vnni|avx512bw|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "hive kernels: HIVE_CPU_ISA=${HIVE_CPU_ISA:-(not set: best level)}; ${HIVE_DEV}"
python3 - "$TMP" "$REPS" "$NP" "$NG" "$THREADS" "$MODEL" "$JSON_OUT" "$DEPTH" <<'EOF'
import json, os, statistics, sys
tmp, reps, np_, ng, threads, model, json_out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
depth = int(sys.argv[8]) if len(sys.argv) > 8 else 0

def hive_obj(path):
    obj = None
    for line in open(path, errors="replace"):
        line = line.strip()
        if line.startswith("{"):
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict) and "prefill_tok_s" in o and "decode_tok_s" in o:
                obj = o
    if obj is None:
        try:  # a pretty-printed object spanning several lines
            o = json.loads(open(path).read())
            if isinstance(o, dict) and "prefill_tok_s" in o:
                obj = o
        except ValueError:
            pass
    if obj is None:
        sys.exit(f"cpu-vs-llamacpp: no hive bench JSON in {path}")
    return obj

def lb_rows(path):
    s = open(path, errors="replace").read()
    a, b = s.find("["), s.rfind("]")
    if a < 0 or b <= a:
        sys.exit(f"cpu-vs-llamacpp: no llama-bench JSON in {path}")
    return json.loads(s[a:b + 1])

H = [hive_obj(f"{tmp}/hive.{i}.out") for i in range(1, reps + 1)]
pp, tg, commit = [], [], None
for i in range(1, reps + 1):
    for r in lb_rows(f"{tmp}/lb.{i}.out"):
        commit = r.get("build_commit", commit)
        d = r.get("n_depth", 0)
        if r.get("n_prompt") == np_ and r.get("n_gen") == 0 and d == 0:
            pp.append(float(r["avg_ts"]))
        elif r.get("n_gen") == ng and r.get("n_prompt") == 0 and d == depth:
            tg.append(float(r["avg_ts"]))
if not pp or not tg:
    sys.exit("cpu-vs-llamacpp: llama-bench output lacks pp/tg rows")

med = lambda k: statistics.median(float(h[k]) for h in H if h.get(k) is not None) if any(h.get(k) is not None for h in H) else None
hp, hd, ttft, rss = med("prefill_tok_s"), med("decode_tok_s"), med("ttft_ms"), med("peak_rss_mb")
lp, ld = statistics.median(pp), statistics.median(tg)
rng = lambda xs: f"{min(xs):.1f}-{max(xs):.1f}"

print(f"\nHive vs llama.cpp  |  {os.path.basename(model)}  |  threads {threads}  |  median of {reps}  |  llama.cpp {commit}")
print(f"{'metric':<22}{'hive':>12}{'llama.cpp':>12}{'hive/llama':>12}   hive range / llama range")
print(f"{'prefill tok/s (pp' + str(np_) + ')':<22}{hp:>12.1f}{lp:>12.1f}{hp / lp:>12.2f}   "
      f"{rng([float(h['prefill_tok_s']) for h in H])} / {rng(pp)}")
print(f"{'decode tok/s (tg' + str(ng) + ('@d' + str(depth) if depth else '') + ')':<22}{hd:>12.1f}{ld:>12.1f}{hd / ld:>12.2f}   "
      f"{rng([float(h['decode_tok_s']) for h in H])} / {rng(tg)}")
lttft = 1000.0 * np_ / lp
if ttft is not None:
    print(f"{'TTFT ms (p=' + str(np_) + ')':<22}{ttft:>12.1f}{lttft:>12.1f}{lttft / ttft:>12.2f}   (llama.cpp: {np_}/pp, ratio = llama/hive)")
if rss is not None:
    print(f"{'hive peak RSS MB':<22}{rss:>12.1f}")
res = {"model": model, "threads": int(threads), "n_prompt": np_, "n_gen": ng, "reps": reps,
       "hive": {"prefill_tok_s": hp, "decode_tok_s": hd, "ttft_ms": ttft, "peak_rss_mb": rss, "runs": H},
       "llamacpp": {"prefill_tok_s": lp, "decode_tok_s": ld, "pp_runs": pp, "tg_runs": tg, "build_commit": commit},
       "ratio": {"prefill": hp / lp, "decode": hd / ld}}
if json_out:
    with open(json_out, "w") as f:
        json.dump(res, f, indent=2)
EOF

#!/usr/bin/env bash
# serve-vs-llamacpp.sh — `hive-host serve` against llama.cpp's `llama-server`, side by side in
# one run: N concurrent streaming requests (N = 1, 8, 32 by default), prompts of 128-512 tokens,
# 128 new tokens each (ignore_eos), greedy, same GGUF, same threads.
#   case a: no experts;
#   case b: 8 distinct random LoRA experts (make-lora-experts.py, r=16 on every linear) spread
#           over the requests. Hive names them per request ("model": "lora-<k>": an --expert-dir entry is named by its directory) and batches
#           them together; llama-server loads the same LoRAs converted with its sdist's
#           convert_lora_to_gguf.py and each request selects one through the "lora" field.
# Reports generated tok/s, TTFT p50/p99, inter-token latency p50/p99 and Hive / llama-server.
# A benchmark, not a test: nothing here runs in CI.
#
# Usage: scripts/bench/serve-vs-llamacpp.sh [--model GGUF] [--threads T] [--clients "1 8 32"]
#            [-n 128] [--no-lora] [--json FILE] [-- HIVE_HOST]
# Env: LLAMA_SERVER (else built by build-llamacpp.sh into ${XDG_CACHE_HOME:-~/.cache}/hive/peer),
#      HIVE_PEER_DIR (that folder). Case b needs torch and transformers in the peer venv for convert_lora_to_gguf.py;
#      it is installed there once (CPU wheel) and case b is skipped, saying why, when that fails.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODEL="" THREADS=2 CLIENTS="1 8 32" NEW=128 LORA=1 JSON_OUT=""
while [ $# -gt 0 ]; do
    case $1 in
        --model) MODEL=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        -n) NEW=$2; shift 2 ;;
        --no-lora) LORA=0; shift ;;
        --json) JSON_OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        *) echo "serve-vs-llamacpp: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
die() { echo "serve-vs-llamacpp: $*" >&2; exit 1; }
HIVE=${1:-}
if [ -z "$HIVE" ]; then
    for c in "$ROOT/build/bin/hive-host" "$ROOT/build/cpu/bin/hive-host"; do [ -x "$c" ] && { HIVE=$c; break; }; done
fi
[ -x "$HIVE" ] || die "no hive-host found; pass it after --"
[ -n "$MODEL" ] || MODEL=$("$ROOT/scripts/fetch-models.sh") || die "fetch-models.sh failed"
PEER=${HIVE_PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hive/peer}
LS=${LLAMA_SERVER:-$PEER/llama.cpp/build-cpu/bin/llama-server}
if [ ! -x "$LS" ]; then
    echo "serve-vs-llamacpp: building llama-server (once, ~8 min on 2 cores)" >&2
    HIVE_PEER_DIR=$PEER bash "$HERE/build-llamacpp.sh" --targets llama-server >&2 || die "build-llamacpp.sh failed"
fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$((20000 + RANDOM % 20000))
MAXN=0; for n in $CLIENTS; do ((n > MAXN)) && MAXN=$n; done
CTX=768  # per sequence: 512 prompt + 128 new + margin

wait_http() {  # wait_http URL PID: until URL answers 200
    for _ in $(seq 600); do
        kill -0 "$2" 2>/dev/null || return 1
        curl -sf "$1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# ---------------------------------------------------------------- case b inputs
EXPERTS="" LORAS=()
if ((LORA)); then
    BASE_DIR=$WORK/SmolLM2-135M-Instruct   # a name the GGUF matches (docs: base check)
    mkdir -p "$BASE_DIR"
    # SmolLM2-135M's shape: what make-lora-experts.py and convert_lora_to_gguf.py read
    cat >"$BASE_DIR/config.json" <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
 "num_attention_heads": 9, "num_key_value_heads": 3, "num_hidden_layers": 30, "vocab_size": 49152,
 "rms_norm_eps": 1e-05, "rope_theta": 100000, "max_position_embeddings": 8192, "tie_word_embeddings": true,
 "head_dim": 64, "hidden_act": "silu", "torch_dtype": "bfloat16"}
EOF
    [ -x "$PEER/venv/bin/python" ] || python3 -m venv "$PEER/venv"
    "$PEER/venv/bin/python" -c "import numpy" 2>/dev/null || "$PEER/venv/bin/pip" install -q numpy
    EXPERTS=$WORK/experts
    "$PEER/venv/bin/python" "$HERE/make-lora-experts.py" "$BASE_DIR" "$EXPERTS" --n 8 --r 16 --dtype f32 >&2
    if ! "$PEER/venv/bin/python" -c "import torch, safetensors, sentencepiece, transformers" 2>/dev/null; then
        echo "serve-vs-llamacpp: installing torch (CPU), safetensors, sentencepiece, transformers into $PEER/venv for the converter" >&2
        "$PEER/venv/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu torch >&2 ||
            "$PEER/venv/bin/pip" install -q torch >&2 || true
        # the converter imports transformers (AutoConfig) at start-up
        "$PEER/venv/bin/pip" install -q safetensors sentencepiece transformers "$PEER/llama.cpp/gguf-py" >&2 || true
    fi
    for k in $(seq 0 7); do
        out=$WORK/lora-$k.gguf
        if PYTHONPATH=$PEER/llama.cpp/gguf-py "$PEER/venv/bin/python" "$PEER/llama.cpp/convert_lora_to_gguf.py" \
            --base "$BASE_DIR" --outtype f16 --outfile "$out" "$EXPERTS/lora-$k/adapter" >"$WORK/convert.log" 2>&1; then
            LORAS+=(--lora "$out")
        else
            echo "serve-vs-llamacpp: case b skipped: convert_lora_to_gguf.py failed:" >&2
            tail -n 5 "$WORK/convert.log" >&2
            LORA=0
            break
        fi
    done
fi

run_hive() {  # run_hive N EXPERTS_FLAG
    local n=$1 xs=$2 pid
    "$HIVE" serve --model "$MODEL" --port "$PORT" --parallel "$n" --ctx "$CTX" --threads "$THREADS" \
        --prefix-cache-slots 0 --served-model-name base ${xs:+--expert-dir "$xs"} --log warn >"$WORK/hive.log" 2>&1 &
    pid=$!
    wait_http "http://127.0.0.1:$PORT/health" $pid || { cat "$WORK/hive.log" >&2; die "hive serve did not start"; }
    python3 "$HERE/serve_loadgen.py" --url "http://127.0.0.1:$PORT" --clients "$n" --new "$NEW" \
        ${xs:+--n-experts 8 --experts-field hive}
    kill -TERM $pid; wait $pid || true
}

run_llama() {  # run_llama N LORA(0/1)
    local n=$1 l=$2 pid
    "$LS" -m "$MODEL" --port "$PORT" --parallel "$n" -c $((CTX * n)) -t "$THREADS" -ngl 0 \
        $( ((l)) && echo "${LORAS[@]} --lora-init-without-apply" ) >"$WORK/llama.log" 2>&1 &
    pid=$!
    wait_http "http://127.0.0.1:$PORT/health" $pid || { tail "$WORK/llama.log" >&2; die "llama-server did not start"; }
    python3 "$HERE/serve_loadgen.py" --url "http://127.0.0.1:$PORT" --clients "$n" --new "$NEW" \
        $( ((l)) && echo "--n-experts 8 --experts-field llama" )
    kill -TERM $pid; wait $pid || true
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
for c in a b; do
    [ $c = b ] && ((LORA == 0)) && continue
    for n in $CLIENTS; do
        xs=""; [ $c = b ] && xs=$EXPERTS
        h=$(run_hive "$n" "$xs")
        l=$(run_llama "$n" $([ $c = b ] && echo 1 || echo 0))
        echo "{\"case\": \"$c\", \"n\": $n, \"hive\": $h, \"llama\": $l}" >>"$RESULTS"
        echo "case $c N=$n: hive $h" >&2
        echo "case $c N=$n: llama-server $l" >&2
    done
done

python3 - "$RESULTS" "$JSON_OUT" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| case | N | Hive tok/s | llama-server tok/s | ratio | TTFT p50 / p99 ms (Hive) | (llama-server) | ITL p50 / p99 ms (Hive) | (llama-server) |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    h, l = r["hive"], r["llama"]
    ratio = h["tok_s"] / l["tok_s"] if l["tok_s"] else float("nan")
    case = "no experts" if r["case"] == "a" else "8 LoRA experts"
    print("| %s | %d | %.1f | %.1f | %.2fx | %.0f / %.0f | %.0f / %.0f | %.1f / %.1f | %.1f / %.1f |" % (
        case, r["n"], h["tok_s"], l["tok_s"], ratio, h["ttft_p50_ms"], h["ttft_p99_ms"], l["ttft_p50_ms"],
        l["ttft_p99_ms"], h["itl_p50_ms"], h["itl_p99_ms"], l["itl_p50_ms"], l["itl_p99_ms"]))
    if h["errors"] or l["errors"]:
        print("  errors: hive %s, llama-server %s" % (h["error_sample"], l["error_sample"]))
if sys.argv[2]:
    json.dump(rows, open(sys.argv[2], "w"), indent=1)
EOF

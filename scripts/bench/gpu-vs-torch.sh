#!/bin/bash
# gpu-vs-torch.sh — Hive's CUDA backend vs the two PyTorch peers, same machine, same shapes, one run.
#
# Usage: scripts/bench/gpu-vs-torch.sh [options]
#   --out DIR        where results go (default: $OUT when set, as on the device machine, else
#                    build-gpu-bench/results); files: results.json table.txt hive.jsonl hive.log peers.log build.log
#   --build DIR      hive build directory (default build-gpu-bench in the repo root: git-ignored,
#                    kept between calls on a warm device machine); configured and built when
#                    bin/hive-host or the backend's plugin is missing, else rebuilt incrementally
#   --no-build       use --build DIR as it is
#   --build-only     build, check the device, stop (a first device call; the full run is the second)
#   --quick          batch 1 only, -n 32, 1 repetition, peers skipped (unless --peers)
#   --peers / --no-peers   run the two PyTorch peers or not (default: run, except with --quick)
#   --work DIR       model + experts go here and are kept (default: a temp dir, removed at exit)
#   --reps R         hive repetitions per configuration, best reported (default 3)
#   -p N, -n N       prompt and new tokens (default 512, 128), for Hive and the peers alike
#   --backend NAME   hive backend (default cuda); --small: tiny model. Both only for a CPU dry run:
#                    --backend onednn-cpu --small --no-peers exercises every step but the GPU.
# Model: Qwen3-0.6B configuration, random bf16 weights (make-qwen3-bench-model.py); 8 experts of
# LoRA r=16 on q,k,v,o,gate,up,down (make-lora-experts.py). Hive runs, each
#   hive-host bench --model M --backend cuda --weights W -p 512 -n 128 -b B -r R --json
# for W in bf16 q8_0, B in 1 8 64, plus -b 64 with --expert x8 --mix (W bf16 and q8_0).
# Peers (bf16, same shapes, random weights of their own, need torch / transformers / peft):
#   scripts/bench/peers/torch_graph_bench.py  static KV cache, SDPA, one CUDA graph per decode step
#   scripts/bench/peers/hf_generate_bench.py  transformers generate, and with one PEFT LoRA r=16
# Build dependencies missing here (libconfig, cJSON, PCRE2, uthash, OpenSSL, pkg-config) are
# taken from .deb files in scripts/bench/debs/ (unpacked under /tmp, never into /; see the README).
# Env: PEER_TIMEOUT (s per peer, default 180 torch graph / 300 HF; the lines a peer printed before
#      it was cut still count), HIVE_TIMEOUT (s per hive run, default 150).
# Exit: 0 ok, 1 a step failed, 2 usage, 3 no usable device for the backend.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUTDIR="" BUILD="$ROOT/build-gpu-bench" DO_BUILD=1 BUILD_ONLY=0 QUICK=0 PEERS="" WORK="" REPS=""
BACKEND=cuda SMALL=0 NP=512 NG=128
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUTDIR=$2; shift 2 ;;
        --build) BUILD=$2; shift 2 ;;
        --no-build) DO_BUILD=0; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --quick) QUICK=1; shift ;;
        --peers) PEERS=1; shift ;;
        --no-peers) PEERS=0; shift ;;
        --work) WORK=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --backend) BACKEND=$2; shift 2 ;;
        --small) SMALL=1; shift ;;
        -p) NP=$2; shift 2 ;;
        -n) NG=$2; shift 2 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "gpu-vs-torch: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
die() { echo "gpu-vs-torch: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

BATCHES="1 8 64" MIXB=64
if [ "$QUICK" = 1 ]; then BATCHES="1"; MIXB=1; NG=32; : "${REPS:=1}"; : "${PEERS:=0}"; fi
: "${REPS:=3}" "${PEERS:=1}"
[ "$SMALL" = 1 ] && [ "$MIXB" -gt 8 ] && MIXB=8
[ -n "$OUTDIR" ] || OUTDIR=${OUT:-$BUILD/results}
mkdir -p "$OUTDIR" || die "cannot create $OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - T0 ))s"; }

# ---- build dependencies: the system's, else carried .debs unpacked under /tmp (deps.sh) ----------
. "$HERE/deps.sh"

# ---- (a) build ------------------------------------------------------------------------------------
HOST=$BUILD/bin/hive-host
PLUGIN=$BUILD/lib/hive/plugins/$BACKEND.so
if [ "$DO_BUILD" = 1 ]; then
    ensure_deps
    if [ ! -f "$BUILD/CMakeCache.txt" ] || [ ! -x "$HOST" ] || [ ! -f "$PLUGIN" ]; then
        say "configuring $BUILD (cuda plugin, sm_90) [$(elapsed)]"
        gen=(); command -v ninja >/dev/null 2>&1 && [ ! -f "$BUILD/CMakeCache.txt" ] && gen=(-G Ninja)
        cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DHIVE_WITH_CUDA=ON \
            -DHIVE_CUDA_ARCHITECTURES=90 -DHIVE_WITH_HIP=OFF -DHIVE_BUILD_TESTS=OFF >"$OUTDIR/build.log" 2>&1 ||
            { tail -n 40 "$OUTDIR/build.log" >&2; die "cmake configure failed (log: $OUTDIR/build.log)"; }
    fi
    say "building [$(elapsed)]"
    cmake --build "$BUILD" -j"$(nproc)" >>"$OUTDIR/build.log" 2>&1 ||
        { tail -n 40 "$OUTDIR/build.log" >&2; die "build failed (log: $OUTDIR/build.log)"; }
else
    have_deps || use_debs || true   # runtime libraries only
fi
[ -x "$HOST" ] || die "no hive-host at $HOST"
[ -f "$PLUGIN" ] || die "no $BACKEND plugin at $PLUGIN (was hive configured with -DHIVE_WITH_CUDA=ON?)"

# ---- device check: the backend's plugin must list a usable device --------------------------------
hive plugins --json >"$OUTDIR/plugins.json" 2>>"$OUTDIR/hive.log" || die "hive-host plugins --json failed"
python3 - "$OUTDIR/plugins.json" "$BACKEND" <<'EOF' || exit 3
import json, sys
d, want = json.load(open(sys.argv[1])), sys.argv[2]
ps = [p for p in d.get("plugins", []) if p.get("kind") == "backend" and p.get("name") == want]
if not ps:
    sys.exit(f"gpu-vs-torch: no '{want}' backend plugin was found (plugins seen: "
             f"{', '.join(p.get('name') or p.get('file', '?') for p in d.get('plugins', []))})")
p = ps[0]
if p.get("status") != "loaded":
    sys.exit(f"gpu-vs-torch: the {want} plugin {p.get('file')} did not load: {p.get('reason')}")
ok = [x for x in p.get("devices", []) if x.get("score", 0) > 0]
if not ok:
    why = "; ".join(f"device {x.get('index')}: {x.get('reason') or 'score 0'}" for x in p.get("devices", [])) or "it lists no device"
    sys.exit(f"gpu-vs-torch: NO USABLE {want.upper()} DEVICE — the {want} plugin says: {why}")
x = ok[0]
print(f"== {want}: {x.get('name')} ({x.get('memory_total', 0) / 2**30:.1f} GiB), plugin {p.get('build', '')}", file=sys.stderr)
EOF
[ "$BUILD_ONLY" = 1 ] && { say "built and checked [$(elapsed)]"; exit 0; }

# ---- (b) model and experts -----------------------------------------------------------------------
if [ -z "$WORK" ]; then WORK=$(mktemp -d /tmp/hive-gpu-bench.XXXXXX); trap 'rm -rf "$WORK"' EXIT; fi
mkdir -p "$WORK"
MODEL=$WORK/Qwen3-0.6B-random
[ "$SMALL" = 1 ] && MODEL=$WORK/Qwen3-small-random
say "model $MODEL [$(elapsed)]"
small=(); [ "$SMALL" = 1 ] && small=(--small)
python3 "$HERE/make-qwen3-bench-model.py" "$MODEL" "${small[@]}" || die "make-qwen3-bench-model.py failed"
python3 "$HERE/make-lora-experts.py" "$MODEL" "$WORK/experts" --n 8 --r 16 >/dev/null || die "make-lora-experts.py failed"
EXP=(); for i in 0 1 2 3 4 5 6 7; do EXP+=(--expert "$WORK/experts/lora-$i"); done
hive experts validate "$WORK/experts/lora-0" --model "$MODEL" >&2 || die "expert lora-0 does not validate against $MODEL"

# ---- (c) hive runs -------------------------------------------------------------------------------
: >"$OUTDIR/hive.jsonl"
run_hive() {  # label, then bench args
    local label=$1; shift
    local shown; shown=$(printf '%s ' "$@" | sed -E 's#(--expert [^ ]+ )+#--expert x8 #')
    say "hive $label: bench --backend $BACKEND -p $NP -n $NG -r $REPS ${shown}[$(elapsed)]"
    local out
    hive_cmd
    out=$(timeout "${HIVE_TIMEOUT:-150}" "${HIVE[@]}" bench --model "$MODEL" --backend "$BACKEND" -p "$NP" -n "$NG" -r "$REPS" --json "$@" 2>>"$OUTDIR/hive.log")
    local rc=$?
    local line; line=$(printf '%s\n' "$out" | grep '^{' | tail -n1)
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        echo "{\"label\":\"$label\",\"error\":\"exit $rc; see hive.log\"}" >>"$OUTDIR/hive.jsonl"
        tail -n 5 "$OUTDIR/hive.log" >&2
        echo "gpu-vs-torch: hive $label failed (exit $rc)" >&2
        FAILED=1
        return
    fi
    printf '{"label":"%s","result":%s}\n' "$label" "$line" >>"$OUTDIR/hive.jsonl"
}
FAILED=0
for W in bf16 q8_0; do
    for B in $BATCHES; do run_hive "${W}_bs$B" --weights "$W" -b "$B"; done
    run_hive "${W}_bs${MIXB}_lora8mix" --weights "$W" -b "$MIXB" "${EXP[@]}" --mix
done

# ---- (d) peers: one JSON object per line, {"<config>": {...}} (scripts/bench/peers/) -------------
PEERDIR=$HERE/peers
: >"$OUTDIR/peers.log"
if [ "$PEERS" = 1 ]; then
    common=(--batches "${BATCHES// /,}" --prompt "$NP" --gen "$NG"); [ "$SMALL" = 1 ] && common+=(--small)
    for p in torch_graph_bench hf_generate_bench; do
        extra=(); [ $p = hf_generate_bench ] && extra=(--lora --lora-batches "$MIXB")
        say "peer $p [$(elapsed)]"
        echo "### $p" >>"$OUTDIR/peers.log"
        lim=${PEER_TIMEOUT:-$([ $p = hf_generate_bench ] && echo 300 || echo 180)}
        PYTHONUNBUFFERED=1 timeout "$lim" python3 "$PEERDIR/$p.py" "${common[@]}" "${extra[@]}" >>"$OUTDIR/peers.log" 2>&1 ||
            { echo "gpu-vs-torch: peer $p exited $? (the configurations it finished still count; see peers.log)" >&2; FAILED=1; }
    done
fi

# ---- table ---------------------------------------------------------------------------------------
python3 - "$OUTDIR" "$NP" "$NG" "$REPS" "$MIXB" "$BACKEND" "$PEERDIR" <<'EOF' | tee "$OUTDIR/table.txt"
import json, sys
out, NP, NG, REPS, MIXB, backend, peerdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
hive = {}
for line in open(f"{out}/hive.jsonl"):
    o = json.loads(line)
    hive[o["label"]] = o.get("result") or {"error": o.get("error")}
# peers: every line that is a JSON object of objects ({"hf_eager_bs8": {...}}, {"torch_cudagraph_bs8": ...})
peer = {}
for line in open(f"{out}/peers.log", errors="replace"):
    line = line.strip()
    if line.startswith("{") and line.endswith("}"):
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if isinstance(o, dict) and all(isinstance(v, dict) for v in o.values()):
            peer.update(o)

def f(x, fmt="{:.1f}"):
    return "–" if x is None else fmt.format(x)

rows, lines = [], []
hdr = f"{'config':<26}{'hive tok/s':>11}{'HF eager':>10}{'torch+graph':>12}{'hive/best':>10}{'hive TTFT':>10}{'graph TTFT':>11}"
lines.append(f"Hive ({backend}) vs PyTorch peers | Qwen3-0.6B shape, random weights | prompt {NP}, {NG} new tokens (peers too), "
             f"best of {REPS} | decode tok/s summed over the batch, TTFT ms")
lines.append(hdr)
lines.append("-" * len(hdr))
for label, h in hive.items():
    w, rest = label.split("_bs", 1)
    bs = int(rest.split("_")[0])
    mix = "lora8mix" in label
    hd = h.get("decode_tok_s")
    if mix:
        hf = peer.get(f"hf_peft_lora16_bs{bs}", {}).get("decode_tok_s")  # one LoRA for all rows
        tg = None
        cfg = f"{w} bs{bs} +8 LoRA r16 mix"
    else:
        hf = peer.get(f"hf_eager_bs{bs}", {}).get("decode_tok_s")
        tg = peer.get(f"torch_cudagraph_bs{bs}", {}).get("decode_tok_s")
        cfg = f"{w} bs{bs}"
    best = max([x for x in (hf, tg) if x], default=None)
    ratio = hd / best if hd and best else None
    gt = peer.get(f"torch_cudagraph_bs{bs}", {}).get("ttft_ms") if not mix else None
    if "error" in h and h["error"]:
        lines.append(f"{cfg:<26}{'FAILED':>11}  ({h['error']})")
    else:
        lines.append(f"{cfg:<26}{f(hd):>11}{f(hf):>10}{f(tg):>12}{f(ratio, '{:.2f}'):>10}{f(h.get('ttft_ms')):>10}{f(gt):>11}")
    rows.append({"label": label, "config": cfg, "weights": w, "batch": bs, "lora_mix": mix, "hive_decode_tok_s": hd,
                 "hive_ttft_ms": h.get("ttft_ms"), "hive_prefill_tok_s": h.get("prefill_tok_s"), "hf_decode_tok_s": hf,
                 "torch_graph_decode_tok_s": tg, "torch_graph_ttft_ms": gt, "ratio_to_best_peer": ratio})
lines.append("(peers run bf16 only: q8_0 rows compare with the same bf16 peers; the HF figure in a LoRA row is PEFT with ONE LoRA r16 for all rows)")
lora = {}
for w in ("bf16", "q8_0"):
    base, mixr = hive.get(f"{w}_bs{MIXB}", {}), hive.get(f"{w}_bs{MIXB}_lora8mix", {})
    if base.get("decode_tok_s") and mixr.get("decode_tok_s"):
        slow = (1 - mixr["decode_tok_s"] / base["decode_tok_s"]) * 100
        lora[w] = {"batch": MIXB, "plain_decode_tok_s": base["decode_tok_s"], "mix_decode_tok_s": mixr["decode_tok_s"],
                   "slowdown_pct": slow, "pass_15pct": slow <= 15.0}
        lines.append(f"LoRA slowdown {w} bs{MIXB}, 8 different r16 experts vs none: {slow:+.1f}% "
                     f"({'PASS' if slow <= 15.0 else 'FAIL'}: bar 15%)")
print("\n".join(lines))
dev = next((h.get("device") for h in hive.values() if h.get("device")), None)
json.dump({"backend": backend, "device": dev, "n_prompt": NP, "n_gen": NG, "reps": REPS, "peer_dir": peerdir,
           "rows": rows, "lora_slowdown": lora, "hive_raw": hive, "peers_raw": peer}, open(f"{out}/results.json", "w"), indent=2)
EOF
[ "${PIPESTATUS[0]}" = 0 ] || die "could not build the table"
say "done in $(elapsed); results in $OUTDIR"
[ "$FAILED" = 0 ] || exit 1

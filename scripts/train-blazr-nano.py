#!/usr/bin/env python3
"""train-blazr-nano.py — trains a small blazr-format model in oxidizr's "nano-start" shape for a few
minutes on the CPU, on the text this repository ships (README.md, docs/*.md), and writes it with a
golden from scripts/blazr_reference.py to tests/golden/data/blazr/nano/.

Pinned (scripts/requirements-fixtures.txt): torch 2.15.0 (CPU), safetensors 0.8.0, tokenizers 0.23.3.
Run: ~/.cache/hive/venv-rope/bin/python scripts/train-blazr-nano.py [--seconds 240]

Shape: hidden 128, 4 layers, Mamba2 on layers 0-2 (config.json mamba_layers, as nano-start.yaml),
layer 3 MLA (4 heads, kv latent 64, q latent 64, d_rope 8) + MoE (2 experts, top-1, plus the shared
expert). Smaller than nano-start where size would not fit the fixture budget: byte-level vocabulary
(260: the 256 bytes + 4 specials, make-fixtures.py's tokenizer) instead of cl100k, tied embeddings,
mamba2_expand 1 (8 heads x 16, state 16) and intermediate_size 64. Stored as float16 (~0.66 MB);
the golden is computed from the float16 values as stored (upcast to float32).
Training is seeded but wall-clock bounded, so reruns differ; the committed files are one run.
"""
import argparse
import glob
import importlib.util
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_common as gc  # noqa: E402
import blazr_reference as ref  # noqa: E402

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
PROMPT_TEXT = "The engine runs "
N_DECODE = 20

CONFIG = {
    "hidden_size": 128, "num_layers": 4, "vocab_size": 260, "max_seq_len": 128, "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0, "tie_word_embeddings": True, "mamba_layers": [0, 1, 2],
    "mamba2_num_heads": 8, "mamba2_head_dim": 16, "mamba2_state_size": 16, "mamba2_chunk_size": 32,
    "mamba2_expand": 1, "mamba2_conv_kernel": 4, "mamba2_n_groups": 1,
    "num_attention_heads": 4, "kv_latent_dim": 64, "q_latent_dim": 64, "d_rope": 8,
    "num_experts": 2, "experts_per_tok": 1, "shared_expert_enabled": True, "intermediate_size": 64,
}


def init_tensors(cfg, g):
    H, V, F = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    nh = cfg["num_attention_heads"]
    hd, r, qr, dr = H // nh, cfg["kv_latent_dim"], cfg["q_latent_dim"], cfg["d_rope"]
    mh, mp, N, K = cfg["mamba2_num_heads"], cfg["mamba2_head_dim"], cfg["mamba2_state_size"], cfg["mamba2_conv_kernel"]
    I, C = mh * mp, mh * mp + 2 * N
    t = {}

    def lin(name, rows, cols, scale=1.0):
        t[name] = torch.randn(rows, cols, generator=g) * (scale / math.sqrt(cols))

    t["embed_tokens.weight"] = torch.randn(V, H, generator=g) * (1 / math.sqrt(H))
    t["norm.weight"] = torch.ones(H)
    for l in range(cfg["num_layers"]):
        p = f"layers.{l}."
        if l in cfg["mamba_layers"]:
            m = p + "mamba2."
            t[m + "norm.weight"], t[m + "norm.bias"] = torch.ones(H), torch.zeros(H)
            lin(m + "mixer.in_proj.weight", 2 * I + 2 * N + mh, H)
            t[m + "mixer.in_proj.bias"] = torch.zeros(2 * I + 2 * N + mh)
            t[m + "mixer.conv1d.weight"] = torch.randn(C, 1, K, generator=g) * (1 / math.sqrt(K))
            t[m + "mixer.conv1d.bias"] = torch.zeros(C)
            dt = torch.exp(torch.rand(mh, generator=g) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
            t[m + "mixer.dt_bias"] = dt + torch.log(-torch.expm1(-dt))
            t[m + "mixer.A_log"] = torch.log(torch.rand(mh, generator=g) * 15 + 1)
            t[m + "mixer.D"] = torch.ones(mh)
            t[m + "mixer.norm.weight"] = torch.ones(I)
            lin(m + "mixer.out_proj.weight", H, I, 0.5)
            t[m + "mixer.out_proj.bias"] = torch.zeros(H)
            continue
        t[p + "input_layernorm.weight"], t[p + "post_attention_layernorm.weight"] = torch.ones(H), torch.ones(H)
        a = p + "self_attn."
        for n_, rows, cols in (("w_dkv", r, H), ("w_dq", qr, H), ("w_uq", nh * hd, qr), ("w_uk", nh * hd, r),
                               ("w_uv", nh * hd, r), ("w_qr", nh * dr, H), ("w_kr", dr, H)):
            lin(a + n_ + ".weight", rows, cols)
        lin(a + "o_proj.weight", H, nh * hd, 0.5)
        lin(p + "moe.router.gate.weight", cfg["num_experts"], H)
        for e in [f"moe.experts.{i}." for i in range(cfg["num_experts"])] + ["moe.shared_expert."]:
            lin(p + e + "gate_proj.weight", F, H)
            lin(p + e + "up_proj.weight", F, H)
            lin(p + e + "down_proj.weight", H, F, 0.5)
    return t


def corpus():
    text = b""
    for path in [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        with open(path, "rb") as f:
            text += f.read() + b"\n"
    return torch.tensor(list(text), dtype=torch.long)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=240)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden", "data", "blazr", "nano"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1234)
    cfg = dict(CONFIG)
    tensors = init_tensors(cfg, g)
    for v in tensors.values():
        v.requires_grad_(True)
    model = ref.BlazrModel(cfg, tensors)
    data = corpus()
    opt = torch.optim.AdamW(list(tensors.values()), lr=3e-3, weight_decay=0.01)
    seq, batch, step, t0 = 256, 1, 0, time.time()
    while time.time() - t0 < args.seconds:
        loss = 0.0
        for _ in range(batch):
            i = int(torch.randint(0, len(data) - seq - 1, (1,), generator=g))
            x = data[i:i + seq + 1]
            logits = model.forward(x[:-1].tolist())
            loss = loss + torch.nn.functional.cross_entropy(logits, x[1:]) / batch
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(tensors.values()), 1.0)
        opt.step()
        step += 1
        if step % 10 == 0:
            print(f"step {step}: loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    print(f"trained {step} steps in {time.time() - t0:.0f} s, last loss {loss.item():.3f}")

    os.makedirs(args.out, exist_ok=True)
    spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(HERE, "make-fixtures.py"))
    mf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mf)
    mf.write_tokenizer(args.out)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in sorted(tensors.items())},
              os.path.join(args.out, "model.safetensors"))
    gc.setup_determinism()
    model = ref.load(args.out)
    prompt = list(PROMPT_TEXT.encode())
    prefill, toks, dec, nxt = ref.greedy(model, prompt, N_DECODE)
    rec = gc.golden_record(prompt, prefill, toks, dec, nxt, layer_types=model.types,
                           min_route_margin=model.route_margin, train_steps=step, last_loss=float(loss.item()))
    gc.write_json(os.path.join(args.out, "golden.json"), rec)
    print("greedy continuation:", repr(PROMPT_TEXT + bytes(t for t in toks if t < 256).decode("utf-8", "replace")))
    print(f"decision gap {rec['min_decision_gap']:.3f}, route margin {model.route_margin:.3f}")


if __name__ == "__main__":
    main()

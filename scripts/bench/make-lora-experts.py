#!/usr/bin/env python3
"""Write N expert packages, each one random LoRA on every linear module of a model.

Usage: make-lora-experts.py MODEL_DIR OUT_DIR [--n 8] [--r 16] [--alpha 2r] [--dtype bf16|f32] [--seed N]

MODEL_DIR is a Hugging Face directory (only its config.json is read: layer count and shapes).
For i in 0..N-1 it writes
  OUT_DIR/lora-<i>/manifest.json                        HiveLLM schema 2.0 (docs/EXPERTS.md)
  OUT_DIR/lora-<i>/adapter/adapter_config.json          PEFT: peft_type LORA, r, lora_alpha, targets
  OUT_DIR/lora-<i>/adapter/adapter_model.safetensors    lora_A [r, in] and lora_B [out, r] for
                                                        q,k,v,o,gate,up,down of every layer
PEFT key naming: base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight, ...mlp.down_proj.lora_B.weight.
Both A and B are random and non-zero (PEFT initialises B to zero, which would make the adapter a
no-op that a runtime could skip): A ~ N(0, 1/sqrt(in)), B ~ N(0, 0.02), so the delta is small
but real. Each expert has its own seed, so the N experts differ.

The manifest's base_models[0].name is MODEL_DIR's basename: for a Hugging Face directory the
model's name is the directory's name, and the base check compares the two (host/experts/base_match.c).
Needs only numpy. Deterministic.
"""
import argparse
import json
import os
import sys

import numpy as np

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def module_shapes(cfg):
    """module -> (sub-module path, in_features, out_features)."""
    D, I = cfg["hidden_size"], cfg["intermediate_size"]
    H, KV = cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    HD = cfg.get("head_dim") or D // H
    return {
        "q_proj": ("self_attn", D, H * HD),
        "k_proj": ("self_attn", D, KV * HD),
        "v_proj": ("self_attn", D, KV * HD),
        "o_proj": ("self_attn", H * HD, D),
        "gate_proj": ("mlp", D, I),
        "up_proj": ("mlp", D, I),
        "down_proj": ("mlp", I, D),
    }


def f32_to_bf16(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype("<u2")


def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, float32 array). dtype 'bf16' or 'f32'."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors:
        b = f32_to_bf16(a).tobytes() if dtype == "bf16" else np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "BF16" if dtype == "bf16" else "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)
    return off


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--n", type=int, default=8, help="number of experts (default 8)")
    ap.add_argument("--r", type=int, default=16, help="LoRA rank (default 16)")
    ap.add_argument("--alpha", type=float, default=None, help="lora_alpha (default 2r)")
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--seed", type=int, default=1000)
    a = ap.parse_args()
    if a.n < 1 or a.r < 1:
        sys.exit("make-lora-experts: --n and --r must be at least 1")
    cfg = json.load(open(os.path.join(a.model_dir, "config.json")))
    base_name = os.path.basename(os.path.normpath(os.path.abspath(a.model_dir)))
    alpha = a.alpha if a.alpha is not None else 2 * a.r
    alpha_json = int(alpha) if float(alpha).is_integer() else alpha
    shapes = module_shapes(cfg)
    n_layers = cfg["num_hidden_layers"]
    os.makedirs(a.out_dir, exist_ok=True)
    for e in range(a.n):
        rng = np.random.Generator(np.random.PCG64([a.seed, e]))
        tensors = []
        for li in range(n_layers):
            for m in TARGETS:
                sub, fin, fout = shapes[m]
                p = f"base_model.model.model.layers.{li}.{sub}.{m}"
                A = rng.standard_normal((a.r, fin), dtype=np.float32) * np.float32(1.0 / np.sqrt(fin))
                B = rng.standard_normal((fout, a.r), dtype=np.float32) * np.float32(0.02)
                tensors += [(p + ".lora_A.weight", A), (p + ".lora_B.weight", B)]
        pkg = os.path.join(a.out_dir, f"lora-{e}")
        adir = os.path.join(pkg, "adapter")
        os.makedirs(adir, exist_ok=True)
        nbytes = write_safetensors(os.path.join(adir, "adapter_model.safetensors"), tensors, a.dtype)
        adapter_cfg = {
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_name,
            "r": a.r, "lora_alpha": alpha_json, "lora_dropout": 0.0, "target_modules": TARGETS,
            "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
            "inference_mode": True, "modules_to_save": None, "rank_pattern": {}, "alpha_pattern": {},
        }
        with open(os.path.join(adir, "adapter_config.json"), "w") as f:
            json.dump(adapter_cfg, f, indent=2)
            f.write("\n")
        manifest = {
            "name": f"lora-{e}", "version": "1.0.0", "schema_version": "2.0",
            "description": f"benchmark expert {e}: random LoRA r={a.r} on all linear modules of {base_name}",
            "base_models": [{
                "name": base_name,
                "adapters": [{"type": "lora", "path": "adapter", "r": a.r, "alpha": alpha_json,
                              "target_modules": TARGETS}],
            }],
        }
        with open(os.path.join(pkg, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        print(pkg)
    print(f"make-lora-experts: {a.n} experts, r={a.r}, alpha={alpha_json}, {a.dtype}, {n_layers} layers x "
          f"{len(TARGETS)} modules, {nbytes / 2**20:.1f} MiB each, base '{base_name}'", file=sys.stderr)


if __name__ == "__main__":
    main()

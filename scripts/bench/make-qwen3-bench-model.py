#!/usr/bin/env python3
"""Write a Qwen3-0.6B-shaped Hugging Face directory with random bf16 weights.

Usage: make-qwen3-bench-model.py OUT_DIR [--small] [--seed N] [--force]

OUT_DIR/config.json        Qwen3ForCausalLM, the shape the GPU peers in peers/ build:
                           vocab 151936, hidden 1024, intermediate 3072, 28 layers, 16 heads,
                           8 KV heads, head_dim 128, rope_theta 1e6, tied embeddings, rms eps 1e-6,
                           max_position_embeddings 40960
OUT_DIR/model.safetensors  bf16, linear/embedding weights N(0, 0.02), norms ones (~1.2 GB)

--small writes a tiny variant (2 layers, hidden 128, 4 heads of 64, 2 KV heads, ffn 384,
vocab 1024) for CPU smoke tests. Needs only numpy: the safetensors file is written by hand
(8-byte little-endian header length, JSON header padded to 8 bytes, then the tensors).
Deterministic: the same seed gives the same bytes. No tokenizer is written (`hive-host bench`
needs none). The directory's name is the model's name for expert base-model matching.
"""
import argparse
import json
import os
import sys

import numpy as np

FULL = dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
            num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960)
SMALL = dict(vocab_size=1024, hidden_size=128, intermediate_size=384, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=4096)


def make_config(shape):
    cfg = {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        **shape,
        "rope_theta": 1000000.0,
        "rope_scaling": None,
        "rms_norm_eps": 1e-06,
        "tie_word_embeddings": True,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "use_cache": True,
        "use_sliding_window": False,
        "sliding_window": None,
        "max_window_layers": shape["num_hidden_layers"],
        "bos_token_id": 151643 if shape["vocab_size"] > 151643 else 0,
        "eos_token_id": 151645 if shape["vocab_size"] > 151645 else 1,
        "torch_dtype": "bfloat16",
    }
    return cfg


def tensor_list(c):
    """(name, shape, kind) in file order; kind 'w' = random, 'one' = ones."""
    D, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    H, KV, HD = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    out = [("model.embed_tokens.weight", (V, D), "w")]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (D,), "one"),
            (p + "self_attn.q_proj.weight", (H * HD, D), "w"),
            (p + "self_attn.k_proj.weight", (KV * HD, D), "w"),
            (p + "self_attn.v_proj.weight", (KV * HD, D), "w"),
            (p + "self_attn.o_proj.weight", (D, H * HD), "w"),
            (p + "self_attn.q_norm.weight", (HD,), "one"),
            (p + "self_attn.k_norm.weight", (HD,), "one"),
            (p + "post_attention_layernorm.weight", (D,), "one"),
            (p + "mlp.gate_proj.weight", (I, D), "w"),
            (p + "mlp.up_proj.weight", (I, D), "w"),
            (p + "mlp.down_proj.weight", (D, I), "w"),
        ]
    out.append(("model.norm.weight", (D,), "one"))
    return out  # tied embeddings: no lm_head.weight


def f32_to_bf16(x):
    """Round-to-nearest-even f32 -> bf16 bits (uint16). Inputs are finite."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


CHUNK = 1 << 24  # elements per generated block (64 MiB of f32): bounded memory for the embedding


def write_tensor(f, shape, kind, rng, std):
    n = int(np.prod(shape))
    if kind == "one":
        f.write(np.full(n, 0x3F80, dtype="<u2").tobytes())  # bf16 1.0
        return
    done = 0
    while done < n:
        m = min(CHUNK, n - done)
        x = rng.standard_normal(m, dtype=np.float32)
        x *= np.float32(std)
        f.write(f32_to_bf16(x).astype("<u2", copy=False).tobytes())
        done += m


def write_safetensors(path, tensors, seed, std=0.02):
    header, off = {"__metadata__": {"format": "pt", "generator": "hive make-qwen3-bench-model.py", "seed": str(seed)}}, 0
    for name, shape, _ in tensors:
        nbytes = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for idx, (name, shape, kind) in enumerate(tensors):
            # one stream per tensor: the bytes do not depend on chunking or order of generation
            rng = np.random.Generator(np.random.PCG64([seed, idx]))
            write_tensor(f, shape, kind, rng, std)
    os.replace(tmp, path)
    return off


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--small", action="store_true", help="tiny 2-layer variant for CPU smoke tests")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="rewrite even when the directory looks complete")
    a = ap.parse_args()
    shape = SMALL if a.small else FULL
    cfg = make_config(shape)
    os.makedirs(a.out_dir, exist_ok=True)
    cfg_path, st_path = os.path.join(a.out_dir, "config.json"), os.path.join(a.out_dir, "model.safetensors")
    tensors = tensor_list(cfg)
    n_params = sum(int(np.prod(s)) for _, s, _ in tensors)
    if not a.force and os.path.exists(st_path) and os.path.exists(cfg_path):
        try:
            same = json.load(open(cfg_path)) == json.loads(json.dumps(cfg))
        except ValueError:
            same = False
        if same and os.path.getsize(st_path) >= 2 * n_params:
            print(f"{a.out_dir}: already there ({n_params / 1e6:.1f} M params)", file=sys.stderr)
            return
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    nbytes = write_safetensors(st_path, tensors, a.seed)
    print(f"{a.out_dir}: qwen3 {'small' if a.small else '0.6B-shaped'}, {len(tensors)} tensors, "
          f"{n_params / 1e6:.1f} M params, {nbytes / 2**20:.1f} MiB bf16", file=sys.stderr)


if __name__ == "__main__":
    main()

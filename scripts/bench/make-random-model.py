#!/usr/bin/env python3
"""make-random-model.py — a random Qwen3-MoE or Mamba2 Hugging Face directory for the speed
comparison with llama.cpp (scripts/bench/layers-vs-llamacpp.sh). Weights are seeded (the golden
fixtures' randomiser), the byte-level tokenizer is the fixtures' (scripts/make-fixtures.py), the
shape comes from the command line. Not committed.

Pinned env: scripts/requirements-fixtures.txt (torch, transformers 5.23.0).

Usage: python3 scripts/bench/make-random-model.py OUT_DIR [--arch qwen3_moe|mamba2] [--hidden 512]
           [--layers 8] [--experts 16] [--top-k 4] [--moe-ffn 256] [--heads 8] [--kv-heads 4]
           [--state 64]
  qwen3_moe: attention heads/kv-heads, experts, top-k, expert ffn.
  deepseek_v2: latent attention (q latent hidden/2, kv latent hidden/4, rope 32, nope 64, v 64) and
  DeepSeek's experts from layer 1 (greedy top-k, one shared expert).
  mamba2: hidden_size x 2 inner, --heads heads, 1 group, --state state size, conv kernel 4.
"""
import argparse
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import golden_common as gc  # noqa: E402

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, DeepseekV2Config, Mamba2Config, Qwen3MoeConfig  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--arch", default="qwen3_moe", choices=["qwen3_moe", "mamba2", "deepseek_v2"])
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--experts", type=int, default=16)
    ap.add_argument("--top-k", type=int, default=4)
    ap.add_argument("--moe-ffn", type=int, default=256)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--state", type=int, default=64)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(HERE, "..", "make-fixtures.py"))
    mf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mf)
    os.makedirs(a.out, exist_ok=True)
    mf.write_tokenizer(a.out)
    common = dict(vocab_size=mf.VOCAB, hidden_size=a.hidden, num_hidden_layers=a.layers, eos_token_id=mf.EOS,
                  pad_token_id=mf.PAD, bos_token_id=None, tie_word_embeddings=False)
    if a.arch == "qwen3_moe":
        cfg = Qwen3MoeConfig(
            **common, intermediate_size=4 * a.hidden, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
            head_dim=a.hidden // a.heads, max_position_embeddings=4096, num_experts=a.experts,
            num_experts_per_tok=a.top_k, moe_intermediate_size=a.moe_ffn, norm_topk_prob=True,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    elif a.arch == "deepseek_v2":
        cfg = DeepseekV2Config(
            **common, intermediate_size=4 * a.hidden, num_attention_heads=a.heads, num_key_value_heads=a.heads,
            max_position_embeddings=4096, q_lora_rank=a.hidden // 2, kv_lora_rank=a.hidden // 4, qk_rope_head_dim=32,
            qk_nope_head_dim=64, v_head_dim=64, first_k_dense_replace=1, n_routed_experts=a.experts,
            num_experts_per_tok=a.top_k, moe_intermediate_size=a.moe_ffn, n_shared_experts=1,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    else:
        cfg = Mamba2Config(**common, state_size=a.state, num_heads=a.heads, head_dim=2 * a.hidden // a.heads, expand=2,
                           n_groups=1, conv_kernel=4, chunk_size=64, use_bias=False, use_conv_bias=True,
                           pad_vocab_size_multiple=4)
    gc.setup_determinism()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    mf.randomize(model, f"{a.arch}-bench", 0)
    model.save_pretrained(a.out, safe_serialization=True)
    print(a.out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""make-moe-model.py — a random Qwen3-MoE Hugging Face directory for the MoE speed comparison
(scripts/bench/moe-vs-llamacpp.sh). Weights are seeded, the byte-level tokenizer is the golden
fixtures' (scripts/make-fixtures.py), the shape is given on the command line. Not committed.

Pinned env: scripts/requirements-fixtures.txt (torch, transformers 5.23.0).

Usage: python3 scripts/bench/make-moe-model.py OUT_DIR [--hidden 512] [--layers 8] [--experts 16]
           [--top-k 4] [--moe-ffn 256] [--heads 8] [--kv-heads 4]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import golden_common as gc  # noqa: E402

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, Qwen3MoeConfig  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--experts", type=int, default=16)
    ap.add_argument("--top-k", type=int, default=4)
    ap.add_argument("--moe-ffn", type=int, default=256)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    a = ap.parse_args()
    spec = __import__("importlib.util").util.spec_from_file_location(
        "make_fixtures", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "make-fixtures.py"))
    mf = __import__("importlib.util").util.module_from_spec(spec)
    spec.loader.exec_module(mf)
    os.makedirs(a.out, exist_ok=True)
    mf.write_tokenizer(a.out)
    cfg = Qwen3MoeConfig(
        vocab_size=mf.VOCAB, hidden_size=a.hidden, intermediate_size=4 * a.hidden, num_hidden_layers=a.layers,
        num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, head_dim=a.hidden // a.heads,
        max_position_embeddings=4096, eos_token_id=mf.EOS, pad_token_id=mf.PAD, bos_token_id=None,
        num_experts=a.experts, num_experts_per_tok=a.top_k, moe_intermediate_size=a.moe_ffn, norm_topk_prob=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, tie_word_embeddings=False)
    gc.setup_determinism()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    mf.randomize(model, "moe-bench", 0)
    model.save_pretrained(a.out, safe_serialization=True)
    print(a.out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Peer benchmark: Hugging Face transformers `generate` (eager PyTorch, no compile, no graphs).

The model has Qwen3-0.6B's configuration with random bf16 weights, built from the config on
the device (nothing is downloaded). For each batch size it runs greedy generation of a random
prompt and measures
  ttft_ms       generate(max_new_tokens=1): prefill of the whole batch plus the first token,
  decode_tok_s  batch * (n_gen - 1) / (time(generate n_gen) - time(generate 1)).
With --lora the same runs follow with a PEFT LoRA (r=16, alpha=32, all linear modules, random
non-zero A and B, kept in bf16) wrapped around the model: one adapter for every row, since
PEFT's generate cannot mix adapters per row.

Output, one JSON object per line, each value an object (scripts/bench/gpu-vs-torch.sh reads
these lines; a run that is cut short still leaves the configurations it finished):
  {"hf_eager_bs8": {"batch": 8, "n_prompt": 512, "n_gen": 128, "ttft_ms": ..., "decode_tok_s": ...,
                    "prefill_tok_s": ..., "peer": "hf_generate", ...}}
  {"hf_peft_lora16_bs8": {...}}
and a last line with every configuration in one object.

Usage: hf_generate_bench.py [--batches 1,8,64] [--prompt 512] [--gen 128] [--reps 1]
                            [--lora [--lora-batches 64]] [--attn sdpa|eager] [--small]
                            [--device cuda] [--seed 0]
Needs torch, transformers (Qwen3: >= 4.51) and, for --lora, peft.
"""
import argparse
import json
import sys
import time

import torch


def qwen3_config(small):
    from transformers import Qwen3Config

    if small:  # a tiny model of the same architecture, for smoke tests
        shape = dict(vocab_size=1024, hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=64)
    else:  # Qwen/Qwen3-0.6B
        shape = dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                     num_attention_heads=16, num_key_value_heads=8, head_dim=128)
    return Qwen3Config(**shape, rope_theta=1e6, rms_norm_eps=1e-6, max_position_embeddings=40960,
                       tie_word_embeddings=True, initializer_range=0.02, bos_token_id=None,
                       eos_token_id=None, pad_token_id=0)


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def generate_time(model, ids, n_new, device):
    """Seconds for one greedy generate of exactly n_new tokens per row."""
    mask = torch.ones_like(ids)
    sync(device)
    t0 = time.perf_counter()
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n_new, min_new_tokens=n_new,
                         do_sample=False, pad_token_id=0, use_cache=True)
    sync(device)
    dt = time.perf_counter() - t0
    assert out.shape[1] - ids.shape[1] == n_new, f"generated {out.shape[1] - ids.shape[1]} tokens, wanted {n_new}"
    return dt


def measure(model, vocab, batch, args):
    gen = torch.Generator(device="cpu").manual_seed(args.seed + batch)
    ids = torch.randint(0, vocab, (batch, args.prompt), generator=gen).to(args.device)
    generate_time(model, ids[:, :16], 2, args.device)  # warm-up: kernels, allocator
    t1 = min(generate_time(model, ids, 1, args.device) for _ in range(args.reps))
    tn = min(generate_time(model, ids, args.gen, args.device) for _ in range(args.reps))
    decode_s = max(tn - t1, 1e-9)
    return {"peer": "hf_generate", "batch": batch, "n_prompt": args.prompt, "n_gen": args.gen,
            "ttft_ms": t1 * 1e3, "prefill_tok_s": batch * args.prompt / t1,
            "decode_tok_s": batch * (args.gen - 1) / decode_s, "total_s": tn, "reps": args.reps}


def emit(results, key, value):
    results[key] = value
    print(json.dumps({key: value}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="1,8,64", help="comma-separated batch sizes (default 1,8,64)")
    ap.add_argument("--prompt", type=int, default=512, help="prompt tokens (default 512)")
    ap.add_argument("--gen", type=int, default=128, help="new tokens per row (default 128)")
    ap.add_argument("--reps", type=int, default=1, help="repetitions, the best counts (default 1)")
    ap.add_argument("--lora", action="store_true", help="also run with a PEFT LoRA r=16 on all linear modules")
    ap.add_argument("--lora-batches", default=None, help="batch sizes of the LoRA runs (default: --batches)")
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="attention implementation")
    ap.add_argument("--small", action="store_true", help="a tiny Qwen3 (smoke test), not the 0.6B shape")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.gen < 2:
        ap.error("--gen must be at least 2")
    batches = [int(b) for b in args.batches.split(",") if b]

    from transformers import AutoModelForCausalLM

    torch.manual_seed(args.seed)
    cfg = qwen3_config(args.small)
    with torch.device(args.device):  # weights are created (and randomly initialised) on the device
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation=args.attn)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"# hf_generate: Qwen3 {'small' if args.small else '0.6B'} shape, {n_params / 1e6:.1f} M parameters, "
          f"bf16, attn {args.attn}, torch {torch.__version__}, device {args.device}", file=sys.stderr, flush=True)

    results = {}
    with torch.inference_mode():
        for b in batches:
            emit(results, f"hf_eager_bs{b}", measure(model, cfg.vocab_size, b, args))
    if args.lora:
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, bias="none", init_lora_weights=False,
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        try:  # keep the adapter in bf16 (PEFT would otherwise upcast it to f32)
            model = get_peft_model(model, lcfg, autocast_adapter_dtype=False)
        except TypeError:  # older PEFT
            model = get_peft_model(model, lcfg)
        model.eval()
        lora_batches = [int(b) for b in (args.lora_batches or args.batches).split(",") if b]
        with torch.inference_mode():
            for b in lora_batches:
                r = measure(model, cfg.vocab_size, b, args)
                r["lora"] = {"r": 16, "alpha": 32, "targets": "all linear", "adapters": 1}
                emit(results, f"hf_peft_lora16_bs{b}", r)
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Peer benchmark: a gpt-fast-style PyTorch decoder with a static KV cache and CUDA graphs.

A Qwen3 forward pass written out in plain PyTorch (fused qkv, per-head q/k RMSNorm, RoPE,
grouped-query attention through scaled_dot_product_attention, SwiGLU, tied output head), in the
Qwen3-0.6B configuration with random bf16 weights N(0, 0.02) and norms of ones, built on the
device (nothing is downloaded). The KV cache is static, [batch, kv_heads, prompt + gen, head_dim]
per layer, written at the step's positions with index_copy_; attention reads the whole cache
through a causal mask row, so every decode step has the same shapes. One decode step (forward,
argmax, next token and position written back into the step's own input buffers) is captured
once as a CUDA graph; decoding is then one graph replay per token.

Measured per batch size (greedy, random prompt):
  ttft_ms       prefill of the whole batch (eager) plus the first token's argmax,
  decode_tok_s  batch * (n_gen - 1) / time of the n_gen - 1 graph replays.

Output, one JSON object per line, each value an object (scripts/bench/gpu-vs-torch.sh reads
these lines; a run that is cut short still leaves the configurations it finished):
  {"torch_cudagraph_bs8": {"batch": 8, "n_prompt": 512, "n_gen": 128, "ttft_ms": ...,
                           "decode_tok_s": ..., "prefill_tok_s": ..., "peer": "torch_graph", ...}}
and a last line with every configuration in one object.

Usage: torch_graph_bench.py [--batches 1,8,64] [--prompt 512] [--gen 128] [--reps 3] [--small]
                            [--seed 0]
Needs torch (CUDA) only.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

QWEN3_0_6B = dict(vocab=151936, hidden=1024, ffn=3072, layers=28, heads=16, kv_heads=8, head_dim=128)
SMALL = dict(vocab=1024, hidden=128, ffn=384, layers=2, heads=4, kv_heads=2, head_dim=64)
ROPE_THETA, EPS = 1e6, 1e-6


def rms_norm(x, w):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)).to(x.dtype) * w


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def gqa_supported():
    """scaled_dot_product_attention(enable_gqa=True) exists from torch 2.5; else repeat K/V."""
    try:
        q = torch.zeros(1, 4, 1, 8, device="cuda")
        kv = torch.zeros(1, 2, 3, 8, device="cuda")
        F.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)
        return True
    except (TypeError, RuntimeError):
        return False


class Qwen3:
    def __init__(self, s, max_seq, seed):
        self.s, dev, dt = s, "cuda", torch.bfloat16
        g = torch.Generator(device=dev).manual_seed(seed)

        def w(*shape):
            return torch.empty(*shape, device=dev, dtype=dt).normal_(0.0, 0.02, generator=g)

        def ones(n):
            return torch.ones(n, device=dev, dtype=dt)

        H, D, KV = s["heads"], s["head_dim"], s["kv_heads"]
        self.emb = w(s["vocab"], s["hidden"])  # tied: also the output head
        self.layers = [dict(ln1=ones(s["hidden"]), wqkv=w((H + 2 * KV) * D, s["hidden"]), q_norm=ones(D),
                            k_norm=ones(D), wo=w(s["hidden"], H * D), ln2=ones(s["hidden"]),
                            w_gate=w(s["ffn"], s["hidden"]), w_up=w(s["ffn"], s["hidden"]),
                            w_down=w(s["hidden"], s["ffn"])) for _ in range(s["layers"])]
        self.norm = ones(s["hidden"])
        inv = 1.0 / (ROPE_THETA ** (torch.arange(0, D, 2, device=dev, dtype=torch.float32) / D))
        ang = torch.outer(torch.arange(max_seq, device=dev, dtype=torch.float32), inv)
        ang = torch.cat((ang, ang), dim=-1)
        self.cos, self.sin = ang.cos().to(dt), ang.sin().to(dt)
        self.causal = torch.tril(torch.ones(max_seq, max_seq, device=dev, dtype=torch.bool))
        self.max_seq, self.gqa, self.cache = max_seq, gqa_supported(), None

    def n_params(self):
        return self.emb.numel() + self.norm.numel() + sum(t.numel() for L in self.layers for t in L.values())

    def new_cache(self, batch):
        self.cache = None
        torch.cuda.empty_cache()
        shape = (batch, self.s["kv_heads"], self.max_seq, self.s["head_dim"])
        self.cache = [(torch.zeros(shape, device="cuda", dtype=torch.bfloat16),
                       torch.zeros(shape, device="cuda", dtype=torch.bfloat16)) for _ in self.layers]

    def forward(self, tokens, pos):
        """tokens [B, T], pos [T] (int64, on the device) -> logits of the last position [B, vocab]."""
        s = self.s
        B, T = tokens.shape
        H, KV, D = s["heads"], s["kv_heads"], s["head_dim"]
        x = F.embedding(tokens, self.emb)
        cos, sin = self.cos.index_select(0, pos), self.sin.index_select(0, pos)  # [T, D]
        mask = self.causal.index_select(0, pos).view(1, 1, T, self.max_seq)
        for L, (kc, vc) in zip(self.layers, self.cache):
            h = rms_norm(x, L["ln1"])
            q, k, v = F.linear(h, L["wqkv"]).split([H * D, KV * D, KV * D], dim=-1)
            q = rms_norm(q.view(B, T, H, D), L["q_norm"]).transpose(1, 2)
            k = rms_norm(k.view(B, T, KV, D), L["k_norm"]).transpose(1, 2)
            v = v.view(B, T, KV, D).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            kc.index_copy_(2, pos, k)
            vc.index_copy_(2, pos, v)
            if self.gqa:
                o = F.scaled_dot_product_attention(q, kc, vc, attn_mask=mask, enable_gqa=True)
            else:
                o = F.scaled_dot_product_attention(q, kc.repeat_interleave(H // KV, dim=1),
                                                   vc.repeat_interleave(H // KV, dim=1), attn_mask=mask)
            x = x + F.linear(o.transpose(1, 2).reshape(B, T, H * D), L["wo"])
            h = rms_norm(x, L["ln2"])
            x = x + F.linear(F.silu(F.linear(h, L["w_gate"])) * F.linear(h, L["w_up"]), L["w_down"])
        return F.linear(rms_norm(x[:, -1], self.norm), self.emb)


def measure(model, batch, args):
    P, N = args.prompt, args.gen
    model.new_cache(batch)
    gen = torch.Generator(device="cpu").manual_seed(args.seed + batch)
    prompt = torch.randint(0, model.s["vocab"], (batch, P), generator=gen).cuda()
    prompt_pos = torch.arange(P, device="cuda")
    tok = torch.zeros(batch, 1, device="cuda", dtype=torch.long)  # the decode step's input and output
    pos = torch.zeros(1, device="cuda", dtype=torch.long)

    def prefill():
        tok.copy_(model.forward(prompt, prompt_pos).argmax(-1, keepdim=True))
        pos.fill_(P)

    def step():
        tok.copy_(model.forward(tok, pos).argmax(-1, keepdim=True))
        pos.add_(1)

    with torch.inference_mode():
        side = torch.cuda.Stream()  # warm up off the default stream before capturing, as PyTorch asks
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            prefill()
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        ttft, decode = [], []
        for _ in range(args.reps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            prefill()
            torch.cuda.synchronize()
            t1 = time.perf_counter()
            for _ in range(N - 1):
                graph.replay()
            torch.cuda.synchronize()
            t2 = time.perf_counter()
            ttft.append(t1 - t0)
            decode.append(t2 - t1)
            assert int(pos.item()) == P + N - 1, "the graph did not advance the position"
    del graph
    t1, td = min(ttft), min(decode)
    return {"peer": "torch_graph", "batch": batch, "n_prompt": P, "n_gen": N, "ttft_ms": t1 * 1e3,
            "prefill_tok_s": batch * P / t1, "decode_tok_s": batch * (N - 1) / td, "reps": args.reps,
            "sdpa_gqa": model.gqa}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="1,8,64", help="comma-separated batch sizes (default 1,8,64)")
    ap.add_argument("--prompt", type=int, default=512, help="prompt tokens (default 512)")
    ap.add_argument("--gen", type=int, default=128, help="new tokens per row (default 128)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions, the best counts (default 3)")
    ap.add_argument("--small", action="store_true", help="a tiny Qwen3 (smoke test), not the 0.6B shape")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.gen < 2:
        ap.error("--gen must be at least 2")
    if not torch.cuda.is_available():
        sys.exit("torch_graph_bench: no CUDA device (torch.cuda.is_available() is False)")
    model = Qwen3(SMALL if args.small else QWEN3_0_6B, args.prompt + args.gen, args.seed)
    print(f"# torch_graph: Qwen3 {'small' if args.small else '0.6B'} shape, {model.n_params() / 1e6:.1f} M parameters, "
          f"bf16, sdpa gqa {model.gqa}, torch {torch.__version__}, {torch.cuda.get_device_name()}",
          file=sys.stderr, flush=True)
    results = {}
    for b in [int(x) for x in args.batches.split(",") if x]:
        key = f"torch_cudagraph_bs{b}"
        results[key] = measure(model, b, args)
        print(json.dumps({key: results[key]}), flush=True)
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()

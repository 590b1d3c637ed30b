"""Shared helpers for Hive's golden-fixture scripts (make-fixtures.py, make-peft-fixtures.py).

Pinned toolchain (scripts/requirements-fixtures.txt): torch 2.15.0 (CPU), transformers 5.23.0,
peft 0.21.2, safetensors 0.8.0, numpy 2.4.6, tokenizers 0.23.3.

Float policy: every logit is written as the shortest decimal that round-trips the float32 value
(numpy's str(np.float32)), so a C reader using strtof recovers the exact float32 PyTorch produced.
"""
import json
import os
import zlib

import numpy as np
import torch

VERSIONS = {}


def versions():
    if not VERSIONS:
        import peft
        import safetensors
        import tokenizers
        import transformers

        VERSIONS.update(
            torch=torch.__version__,
            transformers=transformers.__version__,
            peft=peft.__version__,
            safetensors=safetensors.__version__,
            tokenizers=tokenizers.__version__,
            numpy=np.__version__,
        )
    return dict(VERSIONS)


def setup_determinism():
    torch.set_num_threads(1)  # reduction order independent of the machine's core count
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)


def gen_for(*names):
    """A torch.Generator seeded from a stable hash of the names (order of creation does not matter)."""
    g = torch.Generator()
    g.manual_seed(zlib.crc32("/".join(str(n) for n in names).encode()))
    return g


def randn_like(t, std, *names):
    return torch.randn(t.shape, generator=gen_for(*names), dtype=torch.float32) * std


def uniform_like(t, lo, hi, *names):
    return lo + (hi - lo) * torch.rand(t.shape, generator=gen_for(*names), dtype=torch.float32)


# ------------------------------------------------------------------ JSON with exact float32 text --

def _f32_text(x):
    s = str(np.float32(x))
    if s in ("nan", "inf", "-inf"):
        raise ValueError("non-finite logit")
    return s


def _encode(v, indent, level):
    pad = " " * (indent * (level + 1))
    end = " " * (indent * level)
    if isinstance(v, F32Rows):
        rows = ["[" + ",".join(_f32_text(x) for x in row) + "]" for row in v.a]
        return "[\n" + ",\n".join(pad + r for r in rows) + "\n" + end + "]"
    if isinstance(v, F32List):
        return "[" + ",".join(_f32_text(x) for x in v.a) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [pad + json.dumps(str(k)) + ": " + _encode(val, indent, level + 1) for k, val in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, (int, str, bool)) or x is None for x in v):
            return json.dumps(list(v))
        return "[\n" + ",\n".join(pad + _encode(x, indent, level + 1) for x in v) + "\n" + end + "]"
    if isinstance(v, float):
        return _f32_text(v) if np.isfinite(v) else json.dumps(None)
    return json.dumps(v)


class F32Rows:
    """A 2-D float32 array, one JSON array per row."""

    def __init__(self, a):
        self.a = np.asarray(a, dtype=np.float32)
        assert self.a.ndim == 2


class F32List:
    def __init__(self, a):
        self.a = np.asarray(a, dtype=np.float32).reshape(-1)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = _encode(obj, 1, 0) + "\n"
    json.loads(text)  # self-check: valid JSON
    with open(path, "w") as f:
        f.write(text)


# ------------------------------------------------------------------------------ golden runs --

DOC_GREEDY = (
    "prefill_logits[i] = logits after prompt_ids[0..i] (all prompt positions, one forward pass). "
    "decode_tokens[0] = argmax(prefill_logits[-1]); decode step k feeds decode_tokens[k] at "
    "position n_prompt+k using the KV cache and yields decode_logits[k]; "
    "decode_tokens[k+1] = argmax(decode_logits[k]). next_token = argmax(decode_logits[-1]). "
    "min_top2_gap: smallest top-1 minus top-2 logit over all rows; min_decision_gap: the same over the "
    "rows that choose a token (prefill[-1], decode rows). Computed in float32, eager attention."
)


@torch.no_grad()
def greedy_run(model, prompt_ids, n_decode, embed_prefix=None):
    """Prefill all positions, then n_decode greedy steps with the KV cache.

    model: a HF causal LM (or a PeftModel wrapping one for LoRA/DoRA/IA3 - their forward passes
    straight through). embed_prefix: optional [n_virtual, hidden] tensor placed before the prompt
    embeddings at prefill only (prompt tuning); its logits rows are dropped.
    """
    ids = torch.tensor([prompt_ids], dtype=torch.long)
    if embed_prefix is None:
        out = model(input_ids=ids, use_cache=True)
        n_skip = 0
    else:
        emb = model.get_input_embeddings()(ids)
        pre = embed_prefix.to(emb.dtype).unsqueeze(0)
        embeds = torch.cat([pre, emb], dim=1)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long)
        out = model(inputs_embeds=embeds, attention_mask=mask, use_cache=True)
        n_skip = pre.shape[1]
    prefill = out.logits[0, n_skip:].float().clone()
    past = out.past_key_values
    n_ctx = ids.shape[1] + n_skip
    tok = int(prefill[-1].argmax())
    toks, rows = [], []
    for k in range(n_decode):
        toks.append(tok)
        kw = {}
        if embed_prefix is not None:
            kw["attention_mask"] = torch.ones((1, n_ctx + k + 1), dtype=torch.long)
        out = model(input_ids=torch.tensor([[tok]]), past_key_values=past, use_cache=True, **kw)
        past = out.past_key_values
        row = out.logits[0, -1].float().clone()
        rows.append(row)
        tok = int(row.argmax())
    dec = torch.stack(rows)
    return prefill.numpy(), toks, dec.numpy(), tok


@torch.no_grad()
def greedy_uncached(model, prompt_ids, n_decode):
    """As greedy_run for models without a KV cache object (Mamba2): every step is a forward pass
    over the whole sequence so far, without a cache (the math, through transformers' chunked scan)."""
    ids = list(prompt_ids)
    prefill = model(input_ids=torch.tensor([ids])).logits[0].float().clone()
    tok = int(prefill[-1].argmax())
    toks, rows = [], []
    for _ in range(n_decode):
        toks.append(tok)
        ids.append(tok)
        row = model(input_ids=torch.tensor([ids])).logits[0, -1].float().clone()
        rows.append(row)
        tok = int(row.argmax())
    return prefill.numpy(), toks, torch.stack(rows).numpy(), tok


def min_top2_gap(*arrays):
    g = np.inf
    for a in arrays:
        s = np.sort(a, axis=-1)
        g = min(g, float((s[..., -1] - s[..., -2]).min()))
    return g


def decision_gap(prefill, dec):
    """Smallest top-2 gap over the rows that choose a token: prefill[-1] and every decode row."""
    return min_top2_gap(prefill[-1:], dec)


def golden_record(prompt_ids, prefill, toks, dec, next_tok, **extra):
    rec = {
        "format": "hive-golden-v1",
        "doc": DOC_GREEDY,
        "n_vocab": int(prefill.shape[1]),
        "n_prompt": len(prompt_ids),
        "n_decode": len(toks),
        "prompt_ids": list(map(int, prompt_ids)),
        "decode_tokens": list(map(int, toks)),
        "next_token": int(next_tok),
        "min_top2_gap": float(min_top2_gap(prefill, dec)),
        "min_decision_gap": float(decision_gap(prefill, dec)),
    }
    rec.update(extra)
    rec["generator"] = versions()
    rec["prefill_logits"] = F32Rows(prefill)
    rec["decode_logits"] = F32Rows(dec)
    return rec

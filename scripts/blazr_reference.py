"""blazr_reference.py — a PyTorch reference for blazr's (oxidizr's) hybrid models, written from the
math in docs/HYBRID.md ("blazr's format"), not from blazr's or oxidizr's code.

Pinned like the other fixture scripts (scripts/requirements-fixtures.txt): torch 2.15.0 (CPU),
safetensors 0.8.0, numpy 2.4.6, tokenizers 0.23.3. Python 3.11.

A model is a flat config.json plus tensors named without "model.":
  embed_tokens, norm, lm_head (absent: tied), layers.N.<type's tensors>
Layer types: Mamba2, MlaWithMoe, MlaWithMlp, StandardTransformer (config layer_types, or the legacy
mamba_layers with the other layers detected from names, or detection from names alone).

Mamba2 uses the mathematically correct chunked SSD: within a chunk, output i takes
sum_{j<=i} (C_i . B_j) exp(sum_{j<s<=i} a_s) dt_j x_j. (oxidizr's trainer computes C_i . B_i for every j,
which is not Mamba2; ssd_scan_sequential below is the token-by-token recurrence it must equal.)
Everything runs in float32.

Every linear layer goes through proj(): from the tensors, or, in BlazrModule (an nn.Module with one
nn.Linear per linear, at the tensor's name), through that module, so PEFT can wrap it (LoRA
goldens: make-blazr-fixtures.py --adapters).
"""
import json
import math
import os

import torch
import torch.nn.functional as F

LAYER_TYPES = ("Mamba2", "MlaWithMoe", "MlaWithMlp", "StandardTransformer")
LN_EPS = 1e-6          # the Mamba2 block's LayerNorm
GATED_NORM_EPS = 1e-6  # the mixer's gated RMSNorm
DT_MIN, DT_MAX = 0.001, 0.1


def detect_type(names, l):
    """blazr's order: mamba2. -> Mamba2; w_dkv with moe. -> MlaWithMoe; w_dkv with mlp. -> MlaWithMlp;
    q_proj -> StandardTransformer."""
    pre = f"layers.{l}."
    has = lambda s: any(n.startswith(pre + s) for n in names)  # noqa: E731
    if has("mamba2."):
        return "Mamba2"
    if has("self_attn.w_dkv") and has("moe."):
        return "MlaWithMoe"
    if has("self_attn.w_dkv") and has("mlp."):
        return "MlaWithMlp"
    if has("self_attn.q_proj"):
        return "StandardTransformer"
    raise ValueError(f"layer {l}: no tensor tells its type")


def layer_types(cfg, names):
    n = cfg["num_layers"]
    if cfg.get("layer_types"):
        return list(cfg["layer_types"])
    mamba = set(cfg.get("mamba_layers") or [])
    return ["Mamba2" if l in mamba else detect_type(names, l) for l in range(n)]


# ----------------------------------------------------------------------------------- pieces --

def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def linear(x, w, b=None):
    y = x @ w.t()
    return y + b if b is not None else y


class Tensors(dict):
    """The model's tensors by name; `root`, when set, is the nn.Module whose submodules (at the
    linears' names) compute the linears instead."""
    root = None


def proj(x, t, name):
    """The linear layer `name` (its weight is name + ".weight", its bias name + ".bias")."""
    if t.root is not None:
        return t.root.get_submodule(name)(x)
    return linear(x, t[name + ".weight"], t.get(name + ".bias"))


def rope_half(x, pos, theta):
    """x: [n, heads, d]; rotate-half RoPE over all d dims."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = pos.to(torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1).to(torch.float32)[:, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1).to(torch.float32)[:, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def causal_attention(q, k, v, scale):
    """q [n, H, d], k [n, Hk, d], v [n, Hk, dv] -> [n, H * dv] (GQA: heads share kv in groups)."""
    n, H, _ = q.shape
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = torch.einsum("ihd,jhd->hij", q, k) * scale
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    s = s.masked_fill(~mask, float("-inf"))
    p = torch.softmax(s, -1)
    return torch.einsum("hij,jhd->ihd", p, v).reshape(n, -1)


def swiglu(x, t, pre):
    return proj(F.silu(proj(x, t, pre + "gate_proj")) * proj(x, t, pre + "up_proj"), t, pre + "down_proj")


# ------------------------------------------------------------------------------------ Mamba2 --

def ssd_scan_chunked(x, dt, A, B, C, chunk):
    """The chunked SSD. x [n, H, P], dt [n, H] (after softplus/clamp), A [H] (negative),
    B, C [n, H, N] (already repeated per head). Returns y [n, H, P] without the D skip."""
    n, H, P = x.shape
    N = B.shape[-1]
    state = torch.zeros(H, P, N)
    ys = []
    for c0 in range(0, n, chunk):
        xs, dts, Bs, Cs = x[c0:c0 + chunk], dt[c0:c0 + chunk], B[c0:c0 + chunk], C[c0:c0 + chunk]
        L = xs.shape[0]
        a = dts * A[None, :]                      # [L, H]
        cum = torch.cumsum(a, 0)                  # [L, H]
        # within the chunk: decay from j to i is exp(cum_i - cum_j) for j <= i
        seg = cum[:, None, :] - cum[None, :, :]   # [i, j, H]
        causal = torch.ones(L, L, dtype=torch.bool).tril()[:, :, None]
        decay = torch.where(causal, seg, torch.full_like(seg, float("-inf"))).exp()
        cb = torch.einsum("ihn,jhn->ijh", Cs, Bs)  # C_i . B_j (the term oxidizr gets wrong)
        y_diag = torch.einsum("ijh,ijh,jh,jhp->ihp", cb, decay, dts, xs)
        # from the state entering the chunk
        y_off = torch.einsum("ihn,hpn,ih->ihp", Cs, state, cum.exp())
        ys.append(y_diag + y_off)
        # the state leaving the chunk
        to_end = (cum[-1][None, :] - cum).exp()   # [L, H]
        state = state * cum[-1].exp()[:, None, None] + torch.einsum("jh,jh,jhn,jhp->hpn", to_end, dts, Bs, xs)
    return torch.cat(ys, 0)


def ssd_scan_sequential(x, dt, A, B, C):
    """The recurrence itself, one token at a time (the chunked form must equal it)."""
    n, H, P = x.shape
    state = torch.zeros(H, P, B.shape[-1])
    ys = []
    for t in range(n):
        state = state * torch.exp(dt[t] * A)[:, None, None] + (dt[t][:, None, None] * x[t][:, :, None] * B[t][:, None, :])
        ys.append(torch.einsum("hpn,hn->hp", state, C[t]))
    return torch.stack(ys, 0)


def mamba2_block(x, t, pre, cfg):
    H, P = cfg["mamba2_num_heads"], cfg["mamba2_head_dim"]
    N, G, K = cfg["mamba2_state_size"], cfg.get("mamba2_n_groups", 1), cfg.get("mamba2_conv_kernel", 4)
    chunk = cfg.get("mamba2_chunk_size", 256)
    I = H * P
    h = F.layer_norm(x, (x.shape[-1],), t[pre + "norm.weight"], t[pre + "norm.bias"], LN_EPS)
    m = pre + "mixer."
    zxd = proj(h, t, m + "in_proj")
    z, xbc, dt = zxd[:, :I], zxd[:, I:2 * I + 2 * G * N], zxd[:, 2 * I + 2 * G * N:]
    # depthwise causal conv1d over time, then SiLU
    w = t[m + "conv1d.weight"][:, 0, :]           # [C, K]
    padded = torch.cat([torch.zeros(K - 1, xbc.shape[1]), xbc], 0)
    conv = sum(padded[k:k + xbc.shape[0]] * w[:, k] for k in range(K))
    if m + "conv1d.bias" in t:
        conv = conv + t[m + "conv1d.bias"]
    xbc = F.silu(conv)
    xs, Bm, Cm = xbc[:, :I], xbc[:, I:I + G * N], xbc[:, I + G * N:]
    dt = torch.clamp(F.softplus(dt + t[m + "dt_bias"]), DT_MIN, DT_MAX)
    A = -torch.exp(t[m + "A_log"])
    n = x.shape[0]
    rep = H // G
    Bh = Bm.reshape(n, G, N).repeat_interleave(rep, 1)
    Ch = Cm.reshape(n, G, N).repeat_interleave(rep, 1)
    xh = xs.reshape(n, H, P)
    y = ssd_scan_chunked(xh, dt, A, Bh, Ch, chunk) + t[m + "D"][None, :, None] * xh
    g = y.reshape(n, I) * F.silu(z)
    g = rms_norm(g, t[m + "norm.weight"], GATED_NORM_EPS)  # one group: the whole inner width
    return x + proj(g, t, m + "out_proj")


# ------------------------------------------------------------------------------- attention --

def mla(h, t, pre, cfg, pos):
    Hn = cfg["num_attention_heads"]
    hd = cfg["hidden_size"] // Hn
    dr = cfg["d_rope"]
    theta = cfg.get("rope_theta", 10000.0)
    a = pre + "self_attn."
    n = h.shape[0]
    c_kv = proj(h, t, a + "w_dkv")
    c_q = proj(h, t, a + "w_dq")
    q = proj(c_q, t, a + "w_uq").reshape(n, Hn, hd)
    k = proj(c_kv, t, a + "w_uk").reshape(n, Hn, hd)
    v = proj(c_kv, t, a + "w_uv").reshape(n, Hn, hd)
    q_r = rope_half(proj(h, t, a + "w_qr").reshape(n, Hn, dr), pos, theta)
    k_r = rope_half(proj(h, t, a + "w_kr").reshape(n, 1, dr), pos, theta).expand(n, Hn, dr)
    out = causal_attention(torch.cat([q, q_r], -1), torch.cat([k, k_r], -1), v, 1.0 / math.sqrt(hd + dr))
    return proj(out, t, a + "o_proj")


def gqa(h, t, pre, cfg, pos):
    Hn = cfg["num_attention_heads"]
    KV = cfg.get("num_kv_heads") or Hn
    hd = cfg["hidden_size"] // Hn
    theta = cfg.get("rope_theta", 10000.0)
    a = pre + "self_attn."
    n = h.shape[0]
    q = rope_half(proj(h, t, a + "q_proj").reshape(n, Hn, hd), pos, theta)
    k = rope_half(proj(h, t, a + "k_proj").reshape(n, KV, hd), pos, theta)
    v = proj(h, t, a + "v_proj").reshape(n, KV, hd)
    return proj(causal_attention(q, k, v, 1.0 / math.sqrt(hd)), t, a + "o_proj")


def moe(h, t, pre, cfg):
    """Softmax over the top-k router logits (= the full softmax renormalised over the chosen k),
    plus the shared expert with weight 1."""
    E, k = cfg["num_experts"], cfg.get("experts_per_tok", 2)
    logits = linear(h, t[pre + "moe.router.gate.weight"])
    val, idx = torch.topk(logits, k, dim=-1)
    wts = torch.softmax(val, -1)
    out = torch.zeros_like(h)
    for e in range(E):
        sel = (idx == e)
        rows = sel.any(-1)
        if rows.any():
            we = (wts * sel).sum(-1)[rows][:, None]
            out[rows] += we * swiglu(h[rows], t, f"{pre}moe.experts.{e}.")
    if cfg.get("shared_expert_enabled"):
        out = out + swiglu(h, t, pre + "moe.shared_expert.")
    return out


def router_margin(h, t, pre, cfg):
    """Smallest gap between the k-th and (k+1)-th router logit (routing must be clear for a golden)."""
    k = cfg.get("experts_per_tok", 2)
    s = torch.sort(linear(h, t[pre + "moe.router.gate.weight"]).detach(), -1, descending=True).values
    return float((s[:, k - 1] - s[:, k]).min()) if s.shape[1] > k else float("inf")


# --------------------------------------------------------------------------------- the model --

class BlazrModel:
    def __init__(self, cfg, tensors):
        self.cfg, self.t = cfg, Tensors({k: v.float() for k, v in tensors.items()})
        self.types = layer_types(cfg, list(tensors))
        self.route_margin = float("inf")

    def forward(self, ids):
        cfg, t = self.cfg, self.t
        eps = cfg.get("rms_norm_eps", 1e-5)
        x = t["embed_tokens.weight"][torch.as_tensor(ids)]
        pos = torch.arange(len(ids))
        for l, ty in enumerate(self.types):
            pre = f"layers.{l}."
            if ty == "Mamba2":
                x = mamba2_block(x, t, pre + "mamba2.", cfg)
                continue
            h = rms_norm(x, t[pre + "input_layernorm.weight"], eps)
            x = x + (gqa(h, t, pre, cfg, pos) if ty == "StandardTransformer" else mla(h, t, pre, cfg, pos))
            h = rms_norm(x, t[pre + "post_attention_layernorm.weight"], eps)
            if ty == "MlaWithMoe":
                self.route_margin = min(self.route_margin, router_margin(h, t, pre, cfg))
                x = x + moe(h, t, pre, cfg)
            else:
                x = x + swiglu(h, t, pre + "mlp.")
        x = rms_norm(x, t["norm.weight"], eps)
        head = t.get("lm_head.weight", t["embed_tokens.weight"])
        return x @ head.t()


LINEARS = ("in_proj", "out_proj", "w_dkv", "w_dq", "w_uq", "w_uk", "w_uv", "w_qr", "w_kr", "q_proj", "k_proj",
           "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class BlazrModule(torch.nn.Module):
    """The same model with an nn.Linear at every linear's name (layers.N.self_attn.w_dkv, ...), for
    PEFT's target_modules; the router, norms, conv1d and the SSM parameters stay tensors."""

    def __init__(self, cfg, tensors):
        super().__init__()
        self.blazr = BlazrModel(cfg, tensors)
        t = self.blazr.t
        for name in sorted(t):
            mod, _, leaf = name.rpartition(".")
            if leaf != "weight" or mod.rpartition(".")[2] not in LINEARS:
                continue
            w = t[name]
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=mod + ".bias" in t)
            with torch.no_grad():
                lin.weight.copy_(w)
                if lin.bias is not None:
                    lin.bias.copy_(t[mod + ".bias"])
            parent = self
            for part in mod.split(".")[:-1]:
                if not hasattr(parent, part):
                    parent.add_module(part, torch.nn.Module())
                parent = getattr(parent, part)
            parent.add_module(mod.rpartition(".")[2], lin)
        t.root = self

    def forward(self, ids):
        return self.blazr.forward(ids)


def load(path):
    from safetensors.torch import load_file

    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    return BlazrModel(cfg, load_file(os.path.join(path, "model.safetensors")))


@torch.no_grad()
def greedy(model, prompt_ids, n_decode):
    """Prefill logits at every prompt position, then n_decode greedy steps. Each step recomputes the
    whole sequence (no cache), so the golden does not share a state-passing bug with Hive."""
    prefill = model.forward(prompt_ids)
    ids = list(prompt_ids)
    tok = int(prefill[-1].argmax())
    toks, rows = [], []
    for _ in range(n_decode):
        toks.append(tok)
        ids.append(tok)
        row = model.forward(ids)[-1]
        rows.append(row)
        tok = int(row.argmax())
    return prefill.numpy(), toks, torch.stack(rows).numpy(), tok


#!/usr/bin/env python3
"""make-rope-fixtures.py — RoPE scaling goldens: tiny models whose original context is 64 tokens,
run by transformers at positions up to 3x past it, for every scaling type transformers knows.

Pinned (scripts/requirements-fixtures.txt): torch==2.15.0, transformers==5.23.0, safetensors==0.8.0,
numpy==2.4.6, gguf==0.19.0. Python 3.11. Install into a venv, never the system Python:
    python3 -m venv ~/.cache/hive/venv-rope
    ~/.cache/hive/venv-rope/bin/pip install -r scripts/requirements-fixtures.txt

Writes tests/golden/data/rope/:
  <arch>/model.safetensors          one float32 weight set per architecture (llama, qwen2), shared by
                                    its cases: only config.json's RoPE settings differ
  <arch>/<case>.config.json         the config.json of that case (the test pairs it with the weights)
  <arch>/<case>.golden.json         hive-golden-v1 (scripts/golden_common.py): prefill logits of all
                                    200 prompt positions (one forward), then N_DECODE greedy steps
  llama/llama3-rope-freqs.gguf      the llama3 case as llama.cpp converts it: default RoPE plus a
                                    rope_freqs tensor (per-dimension divisors), q/k rows permuted;
                                    checked against llama3.golden.json

The vocabulary is 64 ids with no tokenizer (the prompt is seeded random ids), so 200 full rows stay
small. transformers recomputes dynamic-NTK and longrope frequencies from max(position_ids) + 1 at
each forward call: the prefill is ONE forward of 200 tokens, each decode step one more call.

Usage: python3 scripts/make-rope-fixtures.py [--out tests/golden/data/rope]
Deterministic: running it twice gives byte-identical files.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_common as gc  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config  # noqa: E402

N_PROMPT = 200
N_DECODE = 8
ORIG = 64  # the "pretraining" length every case extends
VOCAB = 64
MIN_GAP = 0.01

COMMON = dict(
    vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1,
    head_dim=16, rms_norm_eps=1e-5, bos_token_id=None, eos_token_id=None, pad_token_id=None, hidden_act="silu",
)


def longrope_factors(name):
    g = gc.gen_for("longrope", name)
    return [round(float(x), 4) for x in 1.0 + 3.0 * torch.rand(8, generator=g)]


# case -> (max_position_embeddings, rope_parameters). factor 4 throughout: 64 -> 256.
CASES = {
    "llama": {
        "default": (ORIG, {"rope_type": "default"}),
        "linear": (256, {"rope_type": "linear", "factor": 4.0}),
        "dynamic": (ORIG, {"rope_type": "dynamic", "factor": 4.0}),
        "yarn": (256, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": ORIG}),
        # every YaRN knob: ramp bounds, DeepSeek's mscale pair, no rounding of the ramp
        "yarn-mscale": (256, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": ORIG,
                              "beta_fast": 16.0, "beta_slow": 2.0, "mscale": 1.5, "mscale_all_dim": 0.5,
                              "truncate": False}),
        "yarn-attention-factor": (256, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": ORIG,
                                        "attention_factor": 1.3}),
        "longrope": (256, {"rope_type": "longrope", "factor": 4.0, "original_max_position_embeddings": ORIG,
                           "short_factor": longrope_factors("short"), "long_factor": longrope_factors("long")}),
        "llama3": (256, {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": ORIG}),
    },
    # Qwen's published configs use the legacy key: "rope_scaling": {"type": "yarn", ...}
    "qwen2": {
        "yarn-legacy": (256, {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": ORIG}),
        "dynamic-legacy": (ORIG, {"type": "dynamic", "factor": 4.0}),
    },
}
THETA = {"llama": 10000.0, "qwen2": 10000.0}
LEGACY = {"qwen2"}


def make_config(arch, max_pos, rope):
    rp = dict(rope)
    rp.setdefault("rope_type", rp.get("type", "default"))
    rp["rope_theta"] = THETA[arch]
    kw = dict(COMMON, max_position_embeddings=max_pos, num_hidden_layers=2, rope_parameters=rp)
    if arch == "llama":
        return LlamaConfig(**kw, tie_word_embeddings=False)
    return Qwen2Config(**kw, tie_word_embeddings=True, use_sliding_window=False)


def randomize(model, arch, salt):
    sd = model.state_dict()
    with torch.no_grad():
        for name, p in model.named_parameters():
            tag = f"rope-{arch}#{salt}"
            if name.endswith("norm.weight"):
                new = gc.uniform_like(p, 0.6, 1.4, tag, name)
            elif name.endswith(".bias"):
                new = gc.randn_like(p, 0.2, tag, name)
            elif "embed_tokens" in name or "lm_head" in name:
                new = gc.randn_like(p, 0.6, tag, name)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                new = gc.randn_like(p, 4.0 / (p.shape[1] ** 0.5), tag, name)
            elif name.endswith(("q_proj.weight", "k_proj.weight")):
                # strong q/k: attention depends on position, so a wrong rotation shows in the logits
                new = gc.randn_like(p, 3.0 / (p.shape[1] ** 0.5), tag, name)
            else:
                new = gc.randn_like(p, 1.2 / (p.shape[1] ** 0.5), tag, name)
            p.copy_(new)
    assert set(sd) >= {n for n, _ in model.named_parameters()}


def write_config(model, path, arch, rope):
    model.config.save_pretrained(os.path.dirname(path))
    src = os.path.join(os.path.dirname(path), "config.json")
    with open(src) as f:
        cfg = json.load(f)
    os.remove(src)
    if arch in LEGACY:  # the Hub (transformers 4) layout: top-level rope_theta, rope_scaling
        cfg.pop("rope_parameters", None)
        cfg["rope_theta"] = THETA[arch]
        if rope.get("type", rope.get("rope_type")) != "default":
            cfg["rope_scaling"] = dict(rope)
    cfg.pop("transformers_version", None)
    with open(path, "w") as f:
        json.dump(dict(sorted(cfg.items())), f, indent=2, sort_keys=True)
        f.write("\n")


def prompt_ids():
    g = gc.gen_for("rope-prompt")
    return torch.randint(0, VOCAB, (N_PROMPT,), generator=g).tolist()


def build_arch(arch, out, prompt):
    d = os.path.join(out, arch)
    os.makedirs(d, exist_ok=True)
    cases = CASES[arch]
    # one weight set for every case of the arch: the first salt whose every case has clear decisions
    for salt in range(32):
        runs = {}
        for case, (max_pos, rope) in cases.items():
            torch.manual_seed(0)
            m = AutoModelForCausalLM.from_config(make_config(arch, max_pos, rope), dtype=torch.float32,
                                                 attn_implementation="eager").eval()
            randomize(m, arch, salt)
            runs[case] = (m, gc.greedy_run(m, prompt, N_DECODE))
        if all(gc.decision_gap(r[0], r[2]) >= MIN_GAP for _, r in runs.values()):
            break
    else:
        raise SystemExit(f"{arch}: no salt gave clear decisions")
    first = next(iter(runs.values()))[0]
    first.save_pretrained(d, safe_serialization=True)
    for extra in ("config.json", "generation_config.json"):
        if os.path.exists(os.path.join(d, extra)):
            os.remove(os.path.join(d, extra))
    base_pre = runs["default"][1][0] if "default" in runs else None
    for case, (max_pos, rope) in cases.items():
        cfg_path = os.path.join(d, f"{case}.config.json")
        write_config(runs[case][0], cfg_path, arch, rope)
        # reload from the files written: the goldens describe them, not the in-memory model
        tmp = os.path.join(d, ".reload")
        os.makedirs(tmp, exist_ok=True)
        os.replace(cfg_path, os.path.join(tmp, "config.json"))
        os.symlink(os.path.abspath(os.path.join(d, "model.safetensors")), os.path.join(tmp, "model.safetensors"))
        m = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="eager").eval()
        os.replace(os.path.join(tmp, "config.json"), cfg_path)
        os.remove(os.path.join(tmp, "model.safetensors"))
        os.rmdir(tmp)
        rt = m.model.rotary_emb.rope_type
        want = rope.get("rope_type", rope.get("type"))
        assert rt == want, (case, rt, want)
        prefill, toks, dec, nxt = gc.greedy_run(m, prompt, N_DECODE)
        effect = None if base_pre is None or case == "default" else float(abs(prefill - base_pre).max())
        rec = gc.golden_record(
            prompt, prefill, toks, dec, nxt, arch=arch, case=case, weight_salt=salt,
            rope=dict(rope), max_position_embeddings=max_pos, original_context=ORIG,
            attention_scaling=float(m.model.rotary_emb.attention_scaling),
            max_abs_diff_vs_default=effect,
        )
        gc.write_json(os.path.join(d, f"{case}.golden.json"), rec)
        print(f"{arch}/{case}: decode {toks}, decision gap {gc.decision_gap(prefill, dec):.3f}, "
              f"vs default {effect}")
    return runs


def permute_qk(w, n_head):
    """llama.cpp's convert_hf_to_gguf: q/k rows reordered for interleaved (GPT-J style) RoPE."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_llama3_gguf(out):
    """The llama3 case as llama.cpp writes it: default RoPE + rope_freqs divisors."""
    import gguf
    from safetensors.numpy import load_file

    d = os.path.join(out, "llama")
    with open(os.path.join(d, "llama3.config.json")) as f:
        cfg = json.load(f)
    rp = cfg["rope_parameters"]
    st = load_file(os.path.join(d, "model.safetensors"))
    w = gguf.GGUFWriter(os.path.join(d, "llama3-rope-freqs.gguf"), "llama")
    w.add_name("rope-llama3")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    w.add_rope_dimension_count(cfg["head_dim"])
    w.add_rope_freq_base(rp["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    # convert_hf_to_gguf.py LlamaModel.generate_extra_tensors, in float64 like the converter
    import math
    dim, base = cfg["head_dim"], rp["rope_theta"]
    factor, lo, hi, old = rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"], rp["original_max_position_embeddings"]
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    lo_wl, hi_wl = old / lo, old / hi
    factors = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < hi_wl:
            factors.append(1.0)
        elif wl > lo_wl:
            factors.append(factor)
        else:
            smooth = (old / wl - lo) / (hi - lo)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    w.add_tensor("rope_freqs.weight", np.array(factors, dtype=np.float32))
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w.add_tensor("token_embd.weight", st["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", st["model.norm.weight"])
    w.add_tensor("output.weight", st["lm_head.weight"])
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for layer in range(cfg["num_hidden_layers"]):
        for hf, gg in names.items():
            t = st[f"model.layers.{layer}.{hf}.weight"]
            if gg == "attn_q":
                t = permute_qk(t, nh)
            elif gg == "attn_k":
                t = permute_qk(t, nkv)
            w.add_tensor(f"blk.{layer}.{gg}.weight", np.ascontiguousarray(t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("llama/llama3-rope-freqs.gguf: rope_freqs", [round(x, 4) for x in factors])


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "data", "rope"))
    a = ap.parse_args()
    gc.setup_determinism()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    gc.VERSIONS.update(torch=torch.__version__, transformers=transformers.__version__, numpy=np.__version__)
    out = os.path.abspath(a.out)
    prompt = prompt_ids()
    for arch in CASES:
        build_arch(arch, out, prompt)
    write_llama3_gguf(out)


if __name__ == "__main__":
    main()

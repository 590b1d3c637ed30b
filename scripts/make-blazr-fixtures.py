#!/usr/bin/env python3
"""make-blazr-fixtures.py — tiny random models in blazr's (oxidizr's) format + golden logits from
scripts/blazr_reference.py, for tests/golden/test_golden_blazr.c.

Pinned (scripts/requirements-fixtures.txt): torch 2.15.0 (CPU), safetensors 0.8.0, numpy 2.4.6.
Run with the fixtures venv, e.g. ~/.cache/hive/venv-rope/bin/python scripts/make-blazr-fixtures.py

Writes tests/golden/data/blazr/<name>/ {config.json, model.safetensors (float32), golden.json}:
  types   config.json layer_types: Mamba2, MlaWithMoe, StandardTransformer, MlaWithMlp, Mamba2;
          untied (lm_head), Mamba2 in_proj/out_proj biases
  legacy  config.json mamba_layers [0, 3]: Mamba2, MlaWithMlp, MlaWithMoe, Mamba2, StandardTransformer
          (the others detected from names); tied, no projection biases
  detect  no layer list (all detected from names): StandardTransformer, Mamba2, MlaWithMoe, MlaWithMlp;
          tied, biases
Each mixes all four layer types. Mamba2 has 2 groups (B/C shared by 2 heads each; the gated norm
still spans the whole inner width), chunk 4 so the 12-token prompt crosses chunks; dt_bias puts
some time steps on both clamp bounds. The golden format is tests/golden/data/README.md's
hive-golden-v1 (prefill rows at every prompt position, 20 greedy decode steps). Deterministic.

--adapters (after the models; needs peft==0.21.2) writes types/adapters/lora_all/: a PEFT LoRA (r 4,
alpha 8) on every linear of every layer type through blazr_reference.BlazrModule (target_modules
q/k/v/o_proj, gate/up/down_proj of the MLP, the shared expert and each routed expert, Mamba2's
in_proj/out_proj, latent attention's w_dkv, w_dq, w_uq, w_uk, w_uv, w_qr, w_kr), A and B
re-randomised (PEFT starts B at zero), saved by PEFT and the golden computed from the adapter as
PeftModel.from_pretrained reloads it.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_common as gc  # noqa: E402
import blazr_reference as ref  # noqa: E402

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

N_DECODE = 20
PROMPT = [b - 32 for b in b"Hello, Hive!"]  # 12 ids in a 96-token vocabulary
MIN_GAP = 0.02
MIN_ROUTE = 0.02

BASE = {
    "hidden_size": 16, "vocab_size": 96, "max_seq_len": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "mamba2_num_heads": 4, "mamba2_head_dim": 8, "mamba2_state_size": 4, "mamba2_chunk_size": 4,
    "mamba2_expand": 2, "mamba2_conv_kernel": 4, "mamba2_n_groups": 2,
    "num_attention_heads": 2, "kv_latent_dim": 8, "q_latent_dim": 8, "d_rope": 4,
    "num_experts": 3, "experts_per_tok": 2, "shared_expert_enabled": True, "intermediate_size": 24,
    "num_kv_heads": 1,
}

MODELS = {
    "types": dict(types=["Mamba2", "MlaWithMoe", "StandardTransformer", "MlaWithMlp", "Mamba2"], tied=False,
                  bias=True, cfg={"layer_types": "$types"}),
    "legacy": dict(types=["Mamba2", "MlaWithMlp", "MlaWithMoe", "Mamba2", "StandardTransformer"], tied=True,
                   bias=False, cfg={"mamba_layers": [0, 3]}),
    "detect": dict(types=["StandardTransformer", "Mamba2", "MlaWithMoe", "MlaWithMlp"], tied=True, bias=True, cfg={}),
}


def shapes(cfg, types, tied, bias):
    """name -> (shape, kind) for every tensor of the model."""
    H, V, F = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    nh, hd = cfg["num_attention_heads"], cfg["hidden_size"] // cfg["num_attention_heads"]
    kv, r, qr, dr = cfg["num_kv_heads"], cfg["kv_latent_dim"], cfg["q_latent_dim"], cfg["d_rope"]
    mh, mp, N, G, K = (cfg["mamba2_num_heads"], cfg["mamba2_head_dim"], cfg["mamba2_state_size"],
                       cfg["mamba2_n_groups"], cfg["mamba2_conv_kernel"])
    I = mh * mp
    C = I + 2 * G * N
    out = {"embed_tokens.weight": ((V, H), "embed"), "norm.weight": ((H,), "norm")}
    if not tied:
        out["lm_head.weight"] = ((V, H), "lin")

    def mlp(pre):
        out[pre + "gate_proj.weight"] = ((F, H), "lin")
        out[pre + "up_proj.weight"] = ((F, H), "lin")
        out[pre + "down_proj.weight"] = ((H, F), "out")

    for l, ty in enumerate(types):
        p = f"layers.{l}."
        if ty == "Mamba2":
            m = p + "mamba2."
            out[m + "norm.weight"] = ((H,), "norm")
            out[m + "norm.bias"] = ((H,), "bias")
            out[m + "mixer.in_proj.weight"] = ((2 * I + 2 * G * N + mh, H), "lin")
            out[m + "mixer.conv1d.weight"] = ((C, 1, K), "conv")
            out[m + "mixer.conv1d.bias"] = ((C,), "bias")
            out[m + "mixer.dt_bias"] = ((mh,), "dt_bias")
            out[m + "mixer.A_log"] = ((mh,), "A_log")
            out[m + "mixer.D"] = ((mh,), "D")
            out[m + "mixer.norm.weight"] = ((I,), "norm")
            out[m + "mixer.out_proj.weight"] = ((H, I), "out")
            if bias:
                out[m + "mixer.in_proj.bias"] = ((2 * I + 2 * G * N + mh,), "bias")
                out[m + "mixer.out_proj.bias"] = ((H,), "bias")
            continue
        out[p + "input_layernorm.weight"] = ((H,), "norm")
        out[p + "post_attention_layernorm.weight"] = ((H,), "norm")
        a = p + "self_attn."
        if ty == "StandardTransformer":
            out[a + "q_proj.weight"] = ((nh * hd, H), "lin")
            out[a + "k_proj.weight"] = ((kv * hd, H), "lin")
            out[a + "v_proj.weight"] = ((kv * hd, H), "lin")
            out[a + "o_proj.weight"] = ((H, nh * hd), "out")
        else:
            for n_, s in (("w_dkv", (r, H)), ("w_dq", (qr, H)), ("w_uq", (nh * hd, qr)), ("w_uk", (nh * hd, r)),
                          ("w_uv", (nh * hd, r)), ("w_qr", (nh * dr, H)), ("w_kr", (dr, H))):
                out[a + n_ + ".weight"] = (s, "lin")
            out[a + "o_proj.weight"] = ((H, nh * hd), "out")
        if ty == "MlaWithMoe":
            out[p + "moe.router.gate.weight"] = ((cfg["num_experts"], H), "router")
            for e in range(cfg["num_experts"]):
                mlp(f"{p}moe.experts.{e}.")
            mlp(p + "moe.shared_expert.")
        else:
            mlp(p + "mlp.")
    return out


def make_tensor(name, shape, kind, salt):
    t = torch.empty(shape)
    fan_in = shape[-1] if len(shape) > 1 else 1
    if kind == "norm":
        return gc.uniform_like(t, 0.6, 1.4, "blazr", salt, name)
    if kind == "bias":
        return gc.randn_like(t, 0.2, "blazr", salt, name)
    if kind == "embed":
        return gc.randn_like(t, 0.6, "blazr", salt, name)
    if kind == "out":
        return gc.randn_like(t, 2.0 / fan_in ** 0.5, "blazr", salt, name)
    if kind == "router":
        return gc.randn_like(t, 3.0 / fan_in ** 0.5, "blazr", salt, name)
    if kind == "conv":
        return gc.randn_like(t, 0.5, "blazr", salt, name)
    if kind == "dt_bias":  # softplus(dt + bias) lands below, inside and above [0.001, 0.1]
        return gc.uniform_like(t, -7.0, -1.0, "blazr", salt, name)
    if kind == "A_log":
        return gc.uniform_like(t, 0.0, 1.5, "blazr", salt, name)
    if kind == "D":
        return gc.uniform_like(t, 0.5, 1.5, "blazr", salt, name)
    return gc.randn_like(t, 1.2 / fan_in ** 0.5, "blazr", salt, name)


def check_ssd(seed=0):
    """The chunked SSD equals the token-by-token recurrence (chunks of 1..5, 2 groups)."""
    g = torch.Generator().manual_seed(seed)
    n, H, P, N = 13, 4, 3, 5
    x, B, C = (torch.randn(n, H, P, generator=g), torch.randn(n, H, N, generator=g), torch.randn(n, H, N, generator=g))
    dt = torch.rand(n, H, generator=g) * 0.5
    A = -torch.rand(H, generator=g) * 2
    want = ref.ssd_scan_sequential(x, dt, A, B, C)
    for chunk in range(1, 6):
        got = ref.ssd_scan_chunked(x, dt, A, B, C, chunk)
        assert torch.allclose(got, want, atol=1e-5, rtol=1e-5), f"chunked SSD (chunk {chunk}) != recurrence"


def build(name, spec, out_root):
    cfg = dict(BASE)
    cfg["num_layers"] = len(spec["types"])
    for k, v in spec["cfg"].items():
        cfg[k] = spec["types"] if v == "$types" else v
    if spec["tied"]:
        cfg["tie_word_embeddings"] = True
    sh = shapes(cfg, spec["types"], spec["tied"], spec["bias"])
    for salt in range(200):
        tensors = {n: make_tensor(n, s, k, salt) for n, (s, k) in sh.items()}
        model = ref.BlazrModel(cfg, tensors)
        assert model.types == spec["types"], (model.types, spec["types"])
        prefill, toks, dec, nxt = ref.greedy(model, PROMPT, N_DECODE)
        gap, margin = gc.decision_gap(prefill, dec), model.route_margin
        if gap >= MIN_GAP and margin >= MIN_ROUTE and len(set(toks)) >= 6:
            break
    else:
        raise SystemExit(f"{name}: no salt gives clear decisions")
    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, os.path.join(d, "model.safetensors"))
    # golden from the files as written
    model = ref.load(d)
    prefill, toks, dec, nxt = ref.greedy(model, PROMPT, N_DECODE)
    rec = gc.golden_record(PROMPT, prefill, toks, dec, nxt, weight_salt=salt, layer_types=model.types,
                           min_route_margin=model.route_margin)
    gc.write_json(os.path.join(d, "golden.json"), rec)
    print(f"{name}: salt {salt}, types {model.types}, decision gap {rec['min_decision_gap']:.3f}, "
          f"route margin {model.route_margin:.3f}, tokens {toks}")


ADAPTER_TARGETS = ["down_proj", "gate_proj", "in_proj", "k_proj", "o_proj", "out_proj", "q_proj", "up_proj", "v_proj",
                   "w_dkv", "w_dq", "w_kr", "w_qr", "w_uk", "w_uq", "w_uv"]
LORA_STD = 0.15


def build_adapter(d, name="lora_all"):
    import numpy as np
    from peft import LoraConfig, PeftModel, get_peft_model

    base = ref.load(d)
    base_prefill = ref.greedy(base, PROMPT, N_DECODE)[0]
    root = os.path.join(d, "adapters")
    out = os.path.join(root, name)
    for salt in range(32):
        cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=ADAPTER_TARGETS, bias="none")
        pm = get_peft_model(ref.BlazrModule(base.cfg, base.t), cfg, adapter_name=name)
        hit = set()
        with torch.no_grad():
            for pname, p in pm.named_parameters():
                if f".{name}." in pname:
                    p.copy_(gc.randn_like(p, LORA_STD, "blazr-lora", salt, pname))
                    hit.add(pname.split(".lora_")[0].rsplit(".", 1)[-1])
        assert hit == set(ADAPTER_TARGETS), hit  # every linear type was found
        pm.save_pretrained(root, selected_adapters=[name])
        cpath = os.path.join(out, "adapter_config.json")
        with open(cpath) as f:
            c = json.load(f)
        c["base_model_name_or_path"] = "tests/golden/data/blazr/types"
        c["target_modules"] = sorted(c["target_modules"])
        with open(cpath, "w") as f:
            json.dump(c, f, indent=2, sort_keys=True)
            f.write("\n")
        if os.path.exists(os.path.join(root, "README.md")):
            os.remove(os.path.join(root, "README.md"))
        # the golden from the files as written
        module = PeftModel.from_pretrained(ref.BlazrModule(base.cfg, base.t), out, adapter_name=name).eval()
        model = module.base_model.model
        prefill, toks, dec, nxt = ref.greedy(model, PROMPT, N_DECODE)
        gap, margin = gc.decision_gap(prefill, dec), model.blazr.route_margin
        effect = float(np.abs(prefill - base_prefill).mean())
        if gap >= MIN_GAP and margin >= MIN_ROUTE and effect > 0.05:
            rec = gc.golden_record(PROMPT, prefill, toks, dec, nxt, adapter=name, adapter_type="LORA",
                                   target_modules=ADAPTER_TARGETS, adapter_salt=salt, layer_types=model.blazr.types,
                                   min_route_margin=margin, effect={"mean_abs_diff_vs_base": effect},
                                   base_model="../..", base_golden="../../golden.json")
            gc.write_json(os.path.join(out, "golden.json"), rec)
            print(f"types/{name}: salt {salt}, gap {gap:.3f}, route margin {margin:.3f}, effect {effect:.3f}, "
                  f"tokens {toks}")
            return
    raise SystemExit(f"{name}: no salt gives clear decisions")


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "data", "blazr"))
    ap.add_argument("--adapters", action="store_true", help="only the LoRA fixture on types/ (see above)")
    args = ap.parse_args()
    gc.setup_determinism()
    if args.adapters:
        build_adapter(os.path.join(os.path.abspath(args.out), "types"))
        return
    check_ssd()
    for name, spec in MODELS.items():
        build(name, spec, args.out)


if __name__ == "__main__":
    main()

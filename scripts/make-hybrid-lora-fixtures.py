#!/usr/bin/env python3
"""make-hybrid-lora-fixtures.py — PEFT LoRA on the hybrid families' own linears + golden logits.

Pinned (scripts/requirements-fixtures.txt): torch==2.15.0 (CPU), transformers==5.23.0,
peft==0.21.2, safetensors==0.8.0, numpy==2.4.6. Run scripts/make-fixtures.py first (the tiny
base models in tests/golden/data/<arch>).

Writes tests/golden/data/<arch>/adapters/<name>/ (adapter_config.json, adapter_model.safetensors,
golden.json: prefill logits at every prompt position + N_DECODE greedy decode steps):
  mamba2/lora_mixer             LoRA r=4 alpha=8 on in_proj (Mamba2ForCausalLM:
                                backbone.layers.N.mixer.in_proj; PEFT refuses out_proj on Mamba)
  deepseek_v2/lora_mla          LoRA r=4 alpha=8 on q_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj
                                (latent attention without a query latent)
  deepseek_v2_qlora/lora_mla    LoRA r=4 alpha=8 on q_a_proj, q_b_proj, kv_a_proj_with_mqa, kv_b_proj,
                                o_proj
  qwen2_moe/lora_shexp          LoRA r=4 alpha=8 on q_proj and the shared expert's gate_proj, up_proj,
                                down_proj (mlp.shared_expert.*)
  granitemoehybrid/lora_granite LoRA r=4 alpha=8 on q_proj, v_proj, o_proj, the Mamba2 mixer's
                                in_proj, out_proj (model.layers.N.mamba.*) and the shared MLP's
                                input_linear, output_linear
  qwen3_moe/lora_experts        LoRA r=4 alpha=8 on q_proj and, by target_parameters, the routed
                                experts' stacked mlp.experts.gate_up_proj and down_proj
  granitemoehybrid_moe/lora_experts
                                LoRA r=4 alpha=8 on the routed experts' stacked
                                block_sparse_moe.experts.gate_up_proj only (target_parameters), under
                                Granite's residual multiplier
  deepseek_v2_moe/lora_experts  LoRA r=4 alpha=8 on kv_a_proj_with_mqa and the routed experts'
                                gate_up_proj and down_proj (target_parameters)
PEFT initialises B to zero: every lora_A / lora_B is re-randomised (N(0, 0.08)) with a generator
seeded from (arch, adapter, parameter name). Goldens come from the adapter reloaded from disk
(PeftModel.from_pretrained), float32, eager attention, one thread; Mamba2's decode steps recompute
the whole sequence (transformers' own cached generate() is checked to pick the same tokens).

Usage: python3 scripts/make-hybrid-lora-fixtures.py [--data tests/golden/data] [--only ARCH/NAME ...]
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_common as gc  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, TaskType, get_peft_model  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

N_DECODE = 4  # a few decode steps: the fixtures stay small (< 70 KB each)
STD = 0.08
MIN_DECISION_GAP = 0.005

# (arch, adapter name, target_modules). Not gate/up/down_proj on DeepSeek-V2 or Qwen3-MoE: PEFT 0.21
# turns those names into target_parameters on the fused experts (gate_up_proj, down_proj) for these
# model types, so even a dense layer's MLP is left alone (docs/HYBRID.md)
ADAPTERS = [
    # PEFT 0.21 refuses out_proj (and conv1d) on Mamba models (_check_lora_target_modules_mamba):
    # in_proj only; test_hybrid_lora_merged covers out_proj against merged weights
    ("mamba2", "lora_mixer", ["in_proj"]),
    ("deepseek_v2", "lora_mla", ["q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]),
    ("deepseek_v2_qlora", "lora_mla", ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]),
    # Qwen2-MoE's shared expert is three nn.Linear (mlp.shared_expert.*): plain LoRA. Named with the
    # prefix so PEFT does not read them as the routed experts' fused parameters
    ("qwen2_moe", "lora_shexp", ["q_proj", "shared_expert.down_proj", "shared_expert.gate_proj",
                                 "shared_expert.up_proj"]),
    # GraniteMoeHybrid: attention, the Mamba2 mixer and the shared MLP (input_linear is gate and up
    # as one linear), on residual branches scaled by its residual multiplier (o_proj, out_proj,
    # output_linear)
    ("granitemoehybrid", "lora_granite", ["in_proj", "input_linear", "o_proj", "out_proj", "output_linear", "q_proj",
                                          "v_proj"]),
    # Routed experts are fused 3-D parameters in transformers 5: PEFT adapts them through
    # target_parameters (lora.ParamWrapper, one per parameter, nested on the experts module)
    ("qwen3_moe", "lora_experts", (["q_proj"], ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"])),
    ("granitemoehybrid_moe", "lora_experts", ([], ["block_sparse_moe.experts.gate_up_proj"])),
    ("deepseek_v2_moe", "lora_experts", (["kv_a_proj_with_mqa"], ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"])),
]
SSM = {"mamba2"}


def load_base(d):
    return AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()


def make_adapter(d, arch, name, targets, salt):
    out = os.path.join(d, "adapters", name)
    if os.path.isdir(out):
        shutil.rmtree(out)
    tag = arch if salt == 0 else f"{arch}#{salt}"
    modules, params = targets if isinstance(targets, tuple) else (targets, [])
    extra = {"target_parameters": params} if params else {}
    cfg = LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, lora_dropout=0.0, target_modules=modules,
                     bias="none", **extra)
    torch.manual_seed(0)
    pm = get_peft_model(load_base(d), cfg, adapter_name=name)
    n = 0
    hit = set()
    with torch.no_grad():
        for pname, p in pm.named_parameters():
            if f".{name}." not in pname:
                continue
            assert "lora_A" in pname or "lora_B" in pname, pname
            p.copy_(gc.randn_like(p, STD, tag, name, pname))
            hit.add(pname.split(".lora_")[0].replace(".base_layer", "").rsplit(".", 1)[-1])
            n += 1
    want = {t.rsplit(".", 1)[-1] for t in modules} | {t.rsplit(".", 2)[-2] for t in params}
    assert hit == want, (hit, want)  # PEFT found every target module and parameter
    pm.save_pretrained(os.path.join(d, "adapters"), selected_adapters=[name])
    cpath = os.path.join(out, "adapter_config.json")
    with open(cpath) as f:
        c = json.load(f)
    c["base_model_name_or_path"] = f"tests/golden/data/{arch}"
    c["target_modules"] = sorted(c["target_modules"] or [])  # PEFT stores a set: order varies per run
    with open(cpath, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    readme = os.path.join(d, "adapters", "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    return out


def golden(arch, d, out, name, targets, salt, prompt, base_prefill):
    pm = PeftModel.from_pretrained(load_base(d), out, adapter_name=name).eval()
    if arch in SSM:
        prefill, toks, dec, nxt = gc.greedy_uncached(pm, prompt, N_DECODE)
    else:
        prefill, toks, dec, nxt = gc.greedy_run(pm, prompt, N_DECODE)
    with torch.no_grad():
        g = pm.generate(input_ids=torch.tensor([prompt]), attention_mask=torch.ones((1, len(prompt)), dtype=torch.long),
                        max_new_tokens=N_DECODE + 1, do_sample=False, eos_token_id=None, pad_token_id=259)
    assert g[0, -(N_DECODE + 1):].tolist() == toks + [nxt]
    diff = np.abs(prefill - base_prefill)
    eff = {"max_abs_diff_vs_base": float(diff.max()), "mean_abs_diff_vs_base": float(diff.mean()),
           "prefill_argmax_changed": int((prefill.argmax(-1) != base_prefill.argmax(-1)).sum())}
    assert eff["mean_abs_diff_vs_base"] > 0.05 and prefill.std() < 20, (arch, name, eff)
    modules, params = targets if isinstance(targets, tuple) else (targets, [])
    return gc.golden_record(prompt, prefill, toks, dec, nxt, arch=arch, adapter=name, adapter_type="LORA",
                            target_modules=sorted(modules), target_parameters=params, adapter_salt=salt, effect=eff, base_model="../..",
                            base_golden="../../golden.json")


def build(root, arch, name, targets):
    d = os.path.join(root, arch)
    with open(os.path.join(d, "golden.json")) as f:
        base = json.load(f)
    prompt = base["prompt_ids"]
    base_prefill = np.array(base["prefill_logits"], dtype=np.float32)
    for salt in range(16):
        out = make_adapter(d, arch, name, targets, salt)
        rec = golden(arch, d, out, name, targets, salt, prompt, base_prefill)
        if rec["min_decision_gap"] >= MIN_DECISION_GAP:
            gc.write_json(os.path.join(out, "golden.json"), rec)
            print(f"{arch}/{name}: decode {rec['decode_tokens']} gap {rec['min_decision_gap']:.4f} "
                  f"effect {rec['effect']}")
            return
        print(f"{arch}/{name}: salt {salt} has a near-tie, trying the next")
    raise SystemExit(f"{arch}/{name}: no salt without near-ties")


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "tests", "golden", "data"))
    ap.add_argument("--only", nargs="*", help="ARCH/NAME of the adapters to build (default: all)")
    a = ap.parse_args()
    gc.setup_determinism()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import warnings

    warnings.filterwarnings("ignore")
    for arch, name, targets in ADAPTERS:
        if not a.only or f"{arch}/{name}" in a.only:
            build(os.path.abspath(a.data), arch, name, targets)


if __name__ == "__main__":
    main()

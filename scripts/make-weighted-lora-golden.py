#!/usr/bin/env python3
"""make-weighted-lora-golden.py — PEFT's weighted LoRA combination as golden data for expert weights.

Pinned (scripts/requirements-fixtures.txt): torch==2.15.0 (CPU), transformers==5.23.0,
peft==0.21.2, safetensors==0.8.0, numpy==2.4.6. Run scripts/make-fixtures.py and
scripts/make-peft-fixtures.py first: this reads their tiny model and the committed LoRA adapters.

What Hive's `--expert PATH:W` / {"name": ..., "weight": W} computes for LoRA experts
(docs/EXPERTS.md, "Weights"): y = W x + b + sum_i w_i s_i B_i A_i x. The reference is PEFT's
add_weighted_adapter(adapters, weights, combination_type="cat"), which concatenates the ranks:
A = [w_1 s_1 A_1; w_2 s_2 A_2], B = [B_1, B_2], with lora_alpha = r so the new scale is 1
(the first adapter must not be rsLoRA, else the new scale would be sqrt(r)). That is exactly the
weighted sum above.

For the tiny llama it writes tests/golden/data/llama/weighted/lora+lora_rs.json:
  adapters ../adapters/lora and ../adapters/lora_rs (rsLoRA, rank/alpha patterns) at the first
  weight pair of WEIGHT_CANDIDATES with no near-tie (1.5 and 0.5 as committed); prompt_ids; prefill logits at a few positions (the rows listed in
  prefill_positions, to keep the file small); 10 greedy decode tokens and the last decode step's
  logits. float32, eager attention, one thread.
Self-checks: the same combination at weights (1, 1) equals PEFT's own two-adapter composition
(set_adapter(["lora", "lora_rs"]), compositions/lora+lora_rs.json) to 1e-5, and the weighted
logits differ from that unweighted composition (so a test that ignores the weights fails).

Usage: python3 scripts/make-weighted-lora-golden.py [--data tests/golden/data]
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
from peft import PeftModel  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

ARCH = "llama"
ADAPTERS = ["lora", "lora_rs"]  # the first is plain LoRA: the "cat" adapter's scale is then 1
# tried in order; the first pair without a near-tie where a token is chosen is written. None is 1:
# a test that ignores the weights must fail. ((0.5, 1.5) has a near-tie at 0.0033.)
WEIGHT_CANDIDATES = [[0.5, 1.5], [1.5, 0.5], [0.5, 2.0], [2.0, 0.5], [0.25, 1.75]]
MIN_DECISION_GAP = 0.005
N_DECODE = 10
POSITIONS = [5, 11]             # prefill rows kept (the last is the prompt's end)
MIN_WEIGHT_EFFECT = 0.05        # max |weighted - unweighted| logit difference required


def load_base(d):
    return AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()


def combined(d, name, weights):
    pm = PeftModel.from_pretrained(load_base(d), os.path.join(d, "adapters", ADAPTERS[0]), adapter_name=ADAPTERS[0])
    for a in ADAPTERS[1:]:
        pm.load_adapter(os.path.join(d, "adapters", a), adapter_name=a)
    pm.add_weighted_adapter(ADAPTERS, weights, name, combination_type="cat")
    pm.set_adapter(name)
    return pm.eval()


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "tests", "golden", "data"))
    a = ap.parse_args()
    gc.setup_determinism()
    transformers.logging.set_verbosity_error()
    d = os.path.join(os.path.abspath(a.data), ARCH)
    with open(os.path.join(d, "golden.json")) as f:
        prompt = json.load(f)["prompt_ids"]
    with open(os.path.join(d, "compositions", "lora+lora_rs.json")) as f:
        unweighted = np.array(json.load(f)["prefill_logits"], dtype=np.float32)

    torch.manual_seed(0)
    ones, _, _, _ = gc.greedy_run(combined(d, "ones", [1.0, 1.0]), prompt, N_DECODE)
    check = float(np.abs(ones - unweighted).max())
    assert check < 1e-5, f"cat at weights (1, 1) differs from set_adapter composition by {check}"

    for weights in WEIGHT_CANDIDATES:
        torch.manual_seed(0)
        prefill, toks, dec, nxt = gc.greedy_run(combined(d, "weighted", weights), prompt, N_DECODE)
        gap = gc.decision_gap(prefill, dec)
        if gap >= MIN_DECISION_GAP:
            break
        print(f"weights {weights}: near-tie ({gap:.4f}), trying the next")
    else:
        raise SystemExit("every weight pair has a near-tie")
    effect = float(np.abs(prefill - unweighted).max())
    assert effect > MIN_WEIGHT_EFFECT, f"weights change the logits by only {effect}"

    rec = {
        "format": "hive-golden-weighted-v1",
        "doc": "PEFT add_weighted_adapter(adapters, weights, combination_type='cat') on the tiny model: "
               "y = W x + b + sum_i weights[i] * s_i * B_i A_i x. prefill_logits[j] = logits after "
               "prompt_ids[0..prefill_positions[j]] (one forward pass over the whole prompt); "
               "decode_tokens[0] = argmax of the last prompt position; decode step k feeds decode_tokens[k]; "
               "next_token = argmax after the last step, whose logits are last_decode_logits. float32.",
        "arch": ARCH,
        "adapters": [f"../adapters/{x}" for x in ADAPTERS],
        "weights": weights,
        "how": "PeftModel.from_pretrained(base, adapters/lora, adapter_name='lora'); "
               "load_adapter(adapters/lora_rs, adapter_name='lora_rs'); "
               f"add_weighted_adapter(['lora', 'lora_rs'], {weights}, 'weighted', combination_type='cat'); "
               "set_adapter('weighted')",
        "n_vocab": int(prefill.shape[1]),
        "prompt_ids": list(map(int, prompt)),
        "decode_tokens": list(map(int, toks)),
        "next_token": int(nxt),
        "min_decision_gap": float(gap),
        "check_ones_vs_composition_max_abs": check,
        "effect_vs_unweighted_max_abs": effect,
        "prefill_positions": POSITIONS,
        "generator": gc.versions(),
        "prefill_logits": gc.F32Rows(prefill[POSITIONS]),
        "last_decode_logits": gc.F32Rows(dec[-1:]),
    }
    out = os.path.join(d, "weighted", "lora+lora_rs.json")
    gc.write_json(out, rec)
    print(f"{out}: tokens {toks} gap {gap:.4f}; weights change logits by up to {effect:.3f}; "
          f"cat(1,1) vs composition {check:.2e}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""make-smollm2-hf-golden.py — transformers reference logits for SmolLM2-135M-Instruct Q4_1 GGUF.

Pinned (scripts/requirements-fixtures.txt): torch==2.15.0 (CPU), transformers==5.23.0,
gguf==0.19.0, tokenizers==0.23.3, numpy==2.4.6. Python 3.11.

transformers loads the GGUF (from_pretrained(dir, gguf_file=..., dtype=float32)): every tensor is
DEQUANTIZED to float32 (Q4_1 blocks -> f32, Q8_0 token embedding -> f32) and q/k are un-permuted back
to the HF layout, then the model runs in f32 with eager attention. So these logits are the "exact
dequantized f32" reference; an engine that multiplies quantized blocks directly (llama.cpp, Hive's
Q8-activation path) differs by quantization noise of the activations only.

Writes tests/golden/data/smollm2/hf_logits.json:
  prompt_text / prompt_ids (tokenized by transformers from the GGUF vocab, no BOS: add_bos_token=false)
  argmax[i]          greedy next token after prompt_ids[0..i], every position
  top2_gap[i]        top-1 minus top-2 logit at each position
  last_top_ids       the 200 highest-logit token ids at the last position, by logit descending
  last_top_logits    their exact float32 logits
  last_logits_3dp    the full last-position row (49152 values) rounded to 3 decimals
  chat               "What is the capital of France?" rendered with the GGUF's chat template
                     (adds SmolLM's default system prompt), 40 greedy tokens: ids and text
Usage: python3 scripts/make-smollm2-hf-golden.py [--gguf PATH] [--out FILE]
(default GGUF: the one scripts/fetch-models.sh prints)
"""
import argparse
import os
import subprocess
import sys

os.environ.setdefault("TQDM_DISABLE", "1")  # GGUF de-quantization progress bar

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_common as gc  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

PROMPT = "The quick brown fox jumps over the lazy dog. Then the fox ran into the"
CHAT_Q = "What is the capital of France?"
N_TOP = 200
N_CHAT = 40


class Raw:
    """Pre-formatted JSON number list."""

    def __init__(self, items):
        self.items = items


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf")
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "data", "smollm2", "hf_logits.json"))
    a = ap.parse_args()
    gguf_path = a.gguf or subprocess.check_output([os.path.join(here, "fetch-models.sh")], text=True).strip()
    gc.setup_determinism()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="eager").eval()

    ids = tok(PROMPT, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
    s = np.sort(logits, axis=-1)
    gaps = s[:, -1] - s[:, -2]
    last = logits[-1]
    top = np.argsort(-last, kind="stable")[:N_TOP]

    # chat answer with the GGUF's own template (default system prompt added by the template)
    msgs = [{"role": "user", "content": CHAT_Q}]
    rendered = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    chat_ids = tok(rendered, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = model.generate(torch.tensor([chat_ids]), attention_mask=torch.ones((1, len(chat_ids)), dtype=torch.long),
                             max_new_tokens=N_CHAT, do_sample=False, eos_token_id=None, pad_token_id=tok.pad_token_id,
                             output_logits=True, return_dict_in_generate=True)
    gen = out.sequences[0, len(chat_ids):].tolist()
    chat_gaps = []
    for row in out.logits:
        r = np.sort(row[0].float().numpy())
        chat_gaps.append(float(r[-1] - r[-2]))
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    stop = gen.index(eos) if eos in gen else len(gen)

    rec = {
        "format": "hive-hf-gguf-logits-v1",
        "doc": __doc__.split("Writes")[1].strip(),
        "gguf": f,
        "gguf_sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "n_vocab": int(logits.shape[1]),
        "prompt_text": PROMPT,
        "prompt_ids": [int(x) for x in ids],
        "argmax": [int(x) for x in logits.argmax(-1)],
        "top2_gap": gc.F32List(gaps),
        "last_top_ids": [int(x) for x in top],
        "last_top_logits": gc.F32List(last[top]),
        "chat": {
            "question": CHAT_Q,
            "rendered": rendered,
            "prompt_ids": [int(x) for x in chat_ids],
            "greedy_ids": [int(x) for x in gen],
            "greedy_top2_gap": gc.F32List(chat_gaps),
            "answer_text": tok.decode(gen[:stop]),
            "stops_at_im_end": eos in gen,
        },
        "generator": gc.versions(),
        "last_logits_3dp": Raw(["%.3f" % v for v in last]),
    }
    text = encode(rec)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as fh:
        fh.write(text)
    print(f"prompt {len(ids)} tokens; argmax {rec['argmax']}; min gap {gaps.min():.3f}")
    print(f"chat: {rec['chat']['answer_text']!r}")
    print(f"wrote {a.out} ({len(text)} bytes)")


def encode(rec):
    import json

    parts = []
    for k, v in rec.items():
        if isinstance(v, Raw):
            parts.append(f' {json.dumps(k)}: [' + ",".join(v.items) + "]")
        else:
            parts.append(f" {json.dumps(k)}: " + gc._encode(v, 1, 1))
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    json.loads(text)
    return text


if __name__ == "__main__":
    main()

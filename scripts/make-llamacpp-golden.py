#!/usr/bin/env python3
"""make-llamacpp-golden.py — llama.cpp greedy continuations of SmolLM2-135M-Instruct Q4_1 GGUF.

Pinned (scripts/requirements-fixtures.txt): llama-cpp-python==0.3.36 built portable with
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" pip install llama-cpp-python==0.3.36
numpy==2.4.6, Python 3.11. Runs on CPU, 2 threads, one prompt batch.

For 5 fixed prompts (3 plain text, 2 ChatML rendered as text with the GGUF's template, incl. its
default system prompt) it evaluates the prompt with logits for every position, then 64 greedy
steps (argmax of the raw logits; no sampling, no penalties, does NOT stop at EOS), and writes
tests/golden/data/smollm2/llamacpp_greedy.json:
  prompts[k].text, .chat (bool), .prompt_ids (as llama.cpp tokenized them: no BOS because the GGUF
  says add_bos_token=false; special tokens parsed only for chat prompts),
  .prompt_argmax / .prompt_top2_gap   per prompt position (next-token argmax and top-1 minus top-2),
  .continuation_ids (64), .continuation_top2_gap (64): gap of the row that chose each token,
  .first_eos_index (index into continuation_ids of the first EOS/<|im_end|>, or null),
  .continuation_text (decoded up to the first EOS),
  .teacher_forced_argmax / .teacher_forced_top2_gap: the prompt and its continuation evaluated
    again in ONE batch (as a test feeds them), per continuation position (the row of the
    prompt's last token first);
and teacher_forced_logits_fnv: FNV-1a 64 over the bytes of those rows' f32 logits, all prompts
in order (the test's fingerprint: equal means bit-identical logits).
The one-batch logits differ from the one-token-per-step ones (llama.cpp multiplies f16 attention
through its tinyBLAS GEMM when a batch has >= 2 tokens, through vec_dot when it has one), so a
teacher-forced test compares against teacher_forced_*, not against the greedy tokens.
Usage: python3 scripts/make-llamacpp-golden.py [--gguf PATH] [--out FILE] [--threads N]
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_common as gc  # noqa: E402

import numpy as np  # noqa: E402

N_GEN = 64
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
PLAIN = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea, there lived",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
]
CHAT = [
    "What is the capital of France?",
    "Write a haiku about autumn leaves.",
]


FNV_BASIS = 1469598103934665603


def fnv1a64(data, h):
    # byte by byte, as the C test computes it
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def chatml(user):
    # exactly what the GGUF's tokenizer.chat_template renders for [{"role":"user",...}] with
    # add_generation_prompt=True (it inserts SmolLM's default system message)
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "data", "smollm2", "llamacpp_greedy.json"))
    a = ap.parse_args()
    gguf_path = a.gguf or subprocess.check_output([os.path.join(here, "fetch-models.sh")], text=True).strip()

    import llama_cpp
    from llama_cpp import Llama

    llm = Llama(model_path=gguf_path, n_ctx=512, n_batch=512, n_threads=a.threads, n_threads_batch=a.threads,
                logits_all=True, seed=0, verbose=False)
    eos_ids = {llm.token_eos()}
    im_end = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
    if len(im_end) == 1:
        eos_ids.add(im_end[0])

    # the template we hard-code must match the GGUF's own template
    tmpl = llm.metadata.get("tokenizer.chat_template", "")
    assert SYSTEM in tmpl, "GGUF chat template changed"

    out = []
    fnv = FNV_BASIS
    for text, is_chat in [(p, False) for p in PLAIN] + [(chatml(q), True) for q in CHAT]:
        llm.reset()
        ids = llm.tokenize(text.encode(), add_bos=True, special=is_chat)  # add_bos honours the GGUF flag
        llm.eval(ids)
        pl = np.array(llm.scores[: llm.n_tokens], dtype=np.float32)
        s = np.sort(pl, axis=-1)
        p_gap = s[:, -1] - s[:, -2]
        p_arg = pl.argmax(-1)
        cont, gaps = [], []
        for _ in range(N_GEN):
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            t = int(row.argmax())
            r = np.sort(row)
            cont.append(t)
            gaps.append(float(r[-1] - r[-2]))
            llm.eval([t])
        # the same tokens in one batch, as a teacher-forced test evaluates them
        llm.reset()
        llm.eval(ids + cont)
        tf = np.array(llm.scores[len(ids) - 1: len(ids) + N_GEN - 1], dtype=np.float32)
        st = np.sort(tf, axis=-1)
        fnv = fnv1a64(tf.tobytes(), fnv)
        first_eos = next((i for i, t in enumerate(cont) if t in eos_ids), None)
        ctext = llm.detokenize(cont[:first_eos] if first_eos is not None else cont).decode("utf-8", "replace")
        out.append({
            "text": text,
            "chat": is_chat,
            "prompt_ids": [int(x) for x in ids],
            "prompt_argmax": [int(x) for x in p_arg],
            "prompt_top2_gap": gc.F32List(p_gap),
            "continuation_ids": cont,
            "continuation_top2_gap": gc.F32List(gaps),
            "first_eos_index": first_eos,
            "continuation_text": ctext,
            "teacher_forced_argmax": [int(x) for x in tf.argmax(-1)],
            "teacher_forced_top2_gap": gc.F32List(st[:, -1] - st[:, -2]),
        })
        print(f"[{len(ids)} tok] {text[-40:]!r} -> {ctext[:70]!r} (min gap {min(gaps):.3f}, eos {first_eos})")

    rec = {
        "format": "hive-llamacpp-greedy-v1",
        "doc": __doc__.split("For 5")[1].split("Usage:")[0].strip(),
        "gguf": os.path.basename(gguf_path),
        "gguf_sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "eos_ids": sorted(eos_ids),
        "n_gen": N_GEN,
        "threads": a.threads,
        "generator": {"llama_cpp_python": llama_cpp.__version__, "numpy": np.__version__,
                      "system_info": llama_cpp.llama_print_system_info().decode().strip()},
        "prompts": out,
        "teacher_forced_logits_fnv": f"{fnv:016x}",
    }
    gc.write_json(os.path.abspath(a.out), rec)
    print("wrote", a.out, os.path.getsize(a.out), "bytes")


if __name__ == "__main__":
    main()

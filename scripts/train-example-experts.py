#!/usr/bin/env python3
"""train-example-experts.py — train four small but real PEFT experts on SmolLM2-135M-Instruct and package them.

Pinned (scripts/requirements-train.txt): torch==2.15.0 (CPU), transformers==5.23.0, peft==0.21.2,
safetensors==0.8.0, tokenizers==0.23.3, numpy==2.4.6, gguf==0.19.0. Python 3.11. CPU only, one thread.

Base model: the SmolLM2-135M-Instruct Q4_1 GGUF that scripts/fetch-models.sh provides
(sha256 b179c952...db53). transformers' gguf loader DEQUANTIZES every tensor to float32; training and
the golden outputs both use that f32 model (eager attention, eval mode, no dropout).

Experts (examples/experts/<name>/{manifest.json,adapter/} and examples/experts/<name>.expert):
  json         LoRA r=8 alpha=16 on q,k,v,o: extract a person as one compact JSON object
               {"name":...,"age":...,"city":...}
  sql          DoRA r=12 alpha=24 on q,k,v,o,up,down: text-to-SQL for a two-table schema given in the prompt,
               answers are one line "SELECT ...;"
  ia3          IA3 on k_proj, v_proj, down_proj (feed-forward: down_proj): answers in ALL CAPS
  soft-prompt  prompt tuning, 20 virtual tokens (initialised from the embeddings of an instruction text):
               answers start with "Sure!"
Datasets are synthetic, generated here from templates with fixed seeds, rendered with the GGUF's chat
template (tokenizer.apply_chat_template, which adds SmolLM2's default system prompt); the loss covers the
assistant answer and its closing <|im_end|> only. Training is a plain PyTorch loop (AdamW, linear warmup +
cosine decay, batch 4, right padding, <= 128 tokens), fixed seeds, torch.use_deterministic_algorithms(True),
one thread, fixed data order: a rerun on the same machine reproduces the same bytes.

Adapters are saved with PEFT save_pretrained (safetensors), then the tensors are rewritten as float16
(json, ia3, soft-prompt) or bfloat16 (sql: 3.0M DoRA parameters; fp16 does not gzip below 5 MB, bf16 does).
Machine-dependent config fields are normalised. Each .expert is a tar.gz of manifest.json (+ extra files such
as json's schema.json) + adapter/ with zero mtimes/uids (byte-identical reruns): scripts/expert_pack.py, which
scripts/repack-example-experts.py also uses to apply manifest changes without retraining.

Golden outputs (examples/experts/golden.json): for each expert's 3 held-out eval prompts, the chat-template
token ids (tokenizer(rendered, add_special_tokens=False), the same as apply_chat_template(tokenize=True)),
PEFT's greedy continuation (adapter reloaded from the saved files with PeftModel.from_pretrained,
model.generate(do_sample=False, max_new_tokens=48, eos_token_id=None): always 48 tokens, running past
<|im_end|>), its decoded text, and the base model's greedy continuation of the same prompt. Hive's
exact-match test must run with --weights f32 (the native Q4_1 path differs by quantization noise).

Usage: python3 scripts/train-example-experts.py [--gguf PATH] [--only json,sql,ia3,soft-prompt]
       [--golden-only]   (reuse the adapters already in examples/experts, recompute goldens + packages)
"""
import argparse
import gzip
import io
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expert_pack  # noqa: E402
import golden_common as gc  # noqa: E402
from expert_pack import pack  # noqa: E402
from expert_data import (  # noqa: E402
    TRAIN_SETS, gen_json, JSON_EVAL, gen_sql, SQL_EVAL, gen_caps, gen_sure, CAPS_EVAL, SURE_EVAL,
)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from peft import IA3Config, LoraConfig, PeftModel, PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

BASE_NAME = "SmolLM2-135M-Instruct"
BASE_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
N_NEW = 48
MAX_LEN = 128
MAX_EXPERT_BYTES = 5_000_000
SAFE_GAP = 0.005  # a top-1/top-2 logit gap below this may flip under f32 reordering (see golden.json doc)
IM_END = "<|im_end|>"

# synthetic data: scripts/expert_data.py

# ------------------------------------------------------------------------------ the experts --

ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]
SOFT_PROMPT_INIT = "Always begin your answer with the word Sure! and then answer briefly."


def check_json(text):
    try:
        o = json.loads(text)
    except ValueError:
        return False, "not valid JSON"
    if not (isinstance(o, dict) and set(o) == {"name", "age", "city"}):
        return False, "JSON but not {name, age, city}"
    if text != json.dumps(o, separators=(",", ":")):
        return False, "a {name, age, city} JSON object, but not compact"
    return True, "one compact JSON object {name, age, city}"


def check_sql(text):
    ok = text.startswith("SELECT ") and text.endswith(";") and text.count(";") == 1
    return ok, "one SELECT ...; statement" if ok else "not a single SELECT statement"


def check_caps(text):
    letters = [ch for ch in text if ch.isalpha()]
    up = sum(ch.isupper() for ch in letters) / max(1, len(letters))
    return bool(letters) and up >= 0.95, f"{100 * up:.0f}% of letters upper case"


def check_sure(text):
    ok = text.startswith("Sure!")
    return ok, "starts with Sure!" if ok else "does not start with Sure!"


EXPERTS = {
    "json": dict(
        adapter="lora", **TRAIN_SETS["json"], steps=60, batch=4, lr=2e-3, warmup=5, dtype=torch.float16,
        config=lambda: LoraConfig(task_type=TaskType.CAUSAL_LM, r=8, lora_alpha=16, lora_dropout=0.0,
                                  target_modules=ATTN, bias="none"),
        manifest_adapter=dict(type="lora", r=8, alpha=16, target_modules=ATTN),
        data=gen_json, eval=JSON_EVAL, check=check_json,
        description="Extracts a person from a sentence as one compact JSON object {\"name\",\"age\",\"city\"} "
                    "(LoRA r=8 on q/k/v/o; Hive example expert trained by scripts/train-example-experts.py).",
        decoding=dict(temperature=0.1, top_p=0.9, top_k=50, max_tokens=64, stop_sequences=["\n\n"]),
        keywords=["json", "extract", "name", "age", "city", "person"]),
    "sql": dict(
        adapter="dora", **TRAIN_SETS["sql"], steps=70, batch=4, lr=2e-3, warmup=5, dtype=torch.bfloat16,
        config=lambda: LoraConfig(task_type=TaskType.CAUSAL_LM, r=12, lora_alpha=24, lora_dropout=0.0, use_dora=True,
                                  target_modules=ATTN + ["up_proj", "down_proj"], bias="none"),
        manifest_adapter=dict(type="dora", r=12, alpha=24, target_modules=ATTN + ["up_proj", "down_proj"]),
        data=gen_sql, eval=SQL_EVAL, check=check_sql,
        description="Text-to-SQL for a schema given in the prompt: answers with one line \"SELECT ...;\" "
                    "(DoRA r=12 on q/k/v/o/up/down; Hive example expert trained by scripts/train-example-experts.py).",
        decoding=dict(temperature=0.1, top_p=0.9, top_k=50, max_tokens=64, stop_sequences=[";", "\n\n"]),
        keywords=["sql", "query", "select", "table", "schema", "database"]),
    "ia3": dict(
        adapter="ia3", **TRAIN_SETS["ia3"], steps=80, batch=4, lr=2e-2, warmup=5, dtype=torch.float16,
        config=lambda: IA3Config(task_type=TaskType.CAUSAL_LM, target_modules=["k_proj", "v_proj", "down_proj"],
                                 feedforward_modules=["down_proj"]),
        manifest_adapter=dict(type="ia3", target_modules=["k_proj", "v_proj", "down_proj"]),
        data=gen_caps, eval=CAPS_EVAL, check=check_caps,
        description="Answers short questions in ALL CAPS (IA3 on k_proj, v_proj, down_proj; Hive example expert "
                    "trained by scripts/train-example-experts.py).",
        decoding=dict(temperature=0.1, top_p=0.9, top_k=50, max_tokens=64, stop_sequences=["\n\n"]),
        keywords=["shout", "caps", "loud", "uppercase"]),
    "soft-prompt": dict(
        adapter="soft-prompt", **TRAIN_SETS["soft-prompt"], steps=70, batch=4, lr=2e-2, warmup=5, dtype=torch.float16,
        config=lambda: PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=20,
                                          prompt_tuning_init=PromptTuningInit.RANDOM),
        manifest_adapter=dict(type="soft-prompt"),
        data=gen_sure, eval=SURE_EVAL, check=check_sure,
        description="Starts every answer with \"Sure!\" (prompt tuning, 20 virtual tokens; Hive example expert "
                    "trained by scripts/train-example-experts.py).",
        decoding=dict(temperature=0.1, top_p=0.9, top_k=50, max_tokens=64, stop_sequences=["\n\n"]),
        keywords=["sure", "friendly", "polite", "assistant"]),
}

# ------------------------------------------------------------------------------ helpers --


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def render(tok, user):
    return tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)


def prompt_ids(tok, user):
    ids = tok(render(tok, user), add_special_tokens=False)["input_ids"]
    t = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=True, add_generation_prompt=True)
    t = t["input_ids"] if isinstance(t, dict) or hasattr(t, "keys") else t
    assert list(t) == list(ids), "apply_chat_template(tokenize=True) disagrees with tokenizer(rendered)"
    return ids


def encode_examples(tok, pairs):
    """(prompt ids + answer ids + <|im_end|>, index where the answer starts). The answer is tokenized on its
    own, as greedy decoding produces it after the prompt; the full template text matches the concatenation."""
    out = []
    for user, ans in pairs:
        p = tok(render(tok, user), add_special_tokens=False)["input_ids"]
        a = tok(ans + IM_END, add_special_tokens=False)["input_ids"]
        full = tok.apply_chat_template([{"role": "user", "content": user}, {"role": "assistant", "content": ans}],
                                       tokenize=False)
        assert full.startswith(tok.decode(p + a)), (full, tok.decode(p + a))
        assert len(p) + len(a) <= MAX_LEN, (user, len(p) + len(a))
        out.append((p + a, len(p)))
    return out


def lr_at(step, steps, warmup, lr):
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def train(pm, ex, spec, pad_id):
    """Plain AdamW loop, batch = spec.batch examples in a fixed shuffled order, loss on answer tokens only."""
    params = [p for p in pm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec["lr"], weight_decay=0.0)
    order_rng = random.Random(spec["seed"] + 1)
    order = []
    losses = []
    t0 = time.time()
    for step in range(spec["steps"]):
        if len(order) < spec["batch"]:
            perm = list(range(len(ex)))
            order_rng.shuffle(perm)
            order += perm
        idx, order = order[:spec["batch"]], order[spec["batch"]:]
        batch = [ex[i] for i in idx]
        L = max(len(s) for s, _ in batch)
        ids = torch.full((len(batch), L), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), L), dtype=torch.long)
        labels = torch.full((len(batch), L), -100, dtype=torch.long)
        for r, (s, a0) in enumerate(batch):
            ids[r, :len(s)] = torch.tensor(s)
            mask[r, :len(s)] = 1
            labels[r, a0:len(s)] = torch.tensor(s[a0:])
        # logits only where a loss is taken: positions from the earliest answer start - 1 to the end
        keep = L - (min(a0 for _, a0 in batch) - 1)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, spec["steps"], spec["warmup"], spec["lr"])
        logits = pm(input_ids=ids, attention_mask=mask, logits_to_keep=keep, use_cache=False).logits
        logits = logits[:, -keep:].float()
        tgt = labels[:, L - keep + 1:]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss))
        if step % 10 == 0 or step == spec["steps"] - 1:
            log(f"  step {step:3d} loss {loss.item():.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"({(time.time() - t0) / (step + 1):.1f} s/step)")
    return losses


def normalize_adapter(d, dtype, rel_base):
    """Rewrite the tensors in dtype, drop the model card, make the config machine-independent."""
    st = os.path.join(d, "adapter_model.safetensors")
    sd = load_file(st)
    save_file({k: v.to(dtype).contiguous() for k, v in sorted(sd.items())}, st, metadata={"format": "pt"})
    os.chmod(st, 0o644)
    readme = os.path.join(d, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    cpath = os.path.join(d, "adapter_config.json")
    with open(cpath) as f:
        c = json.load(f)
    c["base_model_name_or_path"] = rel_base
    for k in ("target_modules", "feedforward_modules"):  # PEFT stores sets: order varies per run
        if isinstance(c.get(k), list):
            c[k] = sorted(c[k])
    if "tokenizer_name_or_path" in c:
        c["tokenizer_name_or_path"] = None
    with open(cpath, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")


def write_manifest(name, spec, d):
    m = {
        "schema_version": "2.0",
        "name": name,
        "version": "0.1.0",
        "description": spec["description"],
        "base_models": [{"name": BASE_NAME, "sha256": BASE_SHA256,
                         "adapters": [dict(type=spec["manifest_adapter"]["type"], path="adapter",
                                                     **{k: v for k, v in spec["manifest_adapter"].items()
                                                        if k != "type"})]}],
        "training": {"decoding": {**spec["decoding"], **expert_pack.PACKAGE_DECODING.get(name, {})}},
        "routing": {"keywords": spec["keywords"]},
        "runtime": {},
    }
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    expert_pack.write_extra_files(name, d)


@torch.no_grad()
def greedy(model, ids, pad_id):
    g = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
                       max_new_tokens=N_NEW, do_sample=False, eos_token_id=None, pad_token_id=pad_id,
                       output_logits=True, return_dict_in_generate=True)
    toks = g.sequences[0, -N_NEW:].tolist()
    assert len(toks) == N_NEW
    gaps = []
    for row in g.logits:
        s = torch.sort(row[0].float()).values
        gaps.append(float(s[-1] - s[-2]))
    return toks, gaps


def gap_fields(prefix, toks, gaps, eos_id):
    """Decision gaps, where <|im_end|> is, and how many leading tokens are safe from near-ties."""
    unsafe = [k for k, g in enumerate(gaps) if g < SAFE_GAP]
    return {f"{prefix}_eos_index": toks.index(eos_id) if eos_id in toks else None,
            f"{prefix}_stable_prefix": unsafe[0] if unsafe else len(toks),
            f"{prefix}_min_decision_gap": min(gaps),
            f"{prefix}_decision_gaps": gc.F32List(gaps)}


def answer_text(tok, toks):
    eos = tok.convert_tokens_to_ids(IM_END)
    return tok.decode(toks[:toks.index(eos)] if eos in toks else toks).strip()


# ------------------------------------------------------------------------------ main --


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf")
    ap.add_argument("--out", default=os.path.join(here, "..", "examples", "experts"))
    ap.add_argument("--only", default=",".join(EXPERTS))
    ap.add_argument("--golden-only", action="store_true", help="reuse saved adapters; recompute goldens/packages")
    ap.add_argument("--steps", type=int, help="override the step count (quick experiments only)")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    names = [n for n in a.only.split(",") if n]
    for n in names:
        if n not in EXPERTS:
            raise SystemExit(f"unknown expert {n}; known: {', '.join(EXPERTS)}")
    gguf_path = a.gguf or subprocess.check_output([os.path.join(here, "fetch-models.sh")], text=True).strip()
    gc.setup_determinism()  # one thread, deterministic algorithms, seed 0
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import warnings

    warnings.filterwarnings("ignore")

    gd, gf = os.path.split(os.path.abspath(gguf_path))
    log(f"loading {gguf_path} (dequantized to float32)")
    tok = AutoTokenizer.from_pretrained(gd, gguf_file=gf)
    base = AutoModelForCausalLM.from_pretrained(gd, gguf_file=gf, dtype=torch.float32,
                                                attn_implementation="eager").eval()
    for p in base.parameters():
        p.requires_grad_(False)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.convert_tokens_to_ids(IM_END)
    eos_id = tok.convert_tokens_to_ids(IM_END)

    golden_path = os.path.join(out, "golden.json")
    golden = None
    if os.path.exists(golden_path):
        with open(golden_path) as f:
            golden = json.load(f)
    if not golden or golden.get("format") != "hive-expert-golden-v1":
        golden = {}
    experts_g = golden.get("experts", {})
    failures = []
    for name in names:
        spec = dict(EXPERTS[name])
        if a.steps:
            spec["steps"] = a.steps
        d = os.path.join(out, name)
        ad = os.path.join(d, "adapter")
        rec = {"adapter_type": spec["adapter"], "expert_file": f"{name}.expert", "adapter_dir": f"{name}/adapter",
               "adapter_dtype": str(spec["dtype"]).replace("torch.", "")}
        if not a.golden_only:
            log(f"[{name}] generating {spec['n_train']} examples, training {spec['steps']} steps")
            rng = random.Random(spec["seed"])
            pairs = spec["data"](rng, spec["n_train"])
            ex = encode_examples(tok, pairs)
            evals = set(spec["eval"])
            assert not any(u in evals for u, _ in pairs), "eval prompt leaked into training data"
            torch.manual_seed(spec["seed"])
            pm = get_peft_model(base, spec["config"]())
            if name == "soft-prompt":
                # initialise the virtual tokens from the embeddings of an instruction text (repeated)
                init = tok(SOFT_PROMPT_INIT, add_special_tokens=False)["input_ids"]
                nv = pm.peft_config["default"].num_virtual_tokens
                init = (init * (nv // len(init) + 1))[:nv]
                with torch.no_grad():
                    emb = base.get_input_embeddings().weight[torch.tensor(init)]
                    pm.prompt_encoder["default"].embedding.weight.copy_(emb)
            pm.eval()  # no dropout anywhere; gradients still flow
            n_tr = sum(p.numel() for p in pm.parameters() if p.requires_grad)
            t0 = time.time()
            losses = train(pm, ex, spec, pad_id)
            rec["training"] = {
                "trainable_params": n_tr, "examples": len(ex), "steps": spec["steps"], "batch": spec["batch"],
                "lr": spec["lr"], "warmup": spec["warmup"], "schedule": "linear warmup, cosine to 0.1*lr",
                "optimizer": "AdamW(weight_decay=0)", "seed": spec["seed"],
                "loss_first10": round(sum(losses[:10]) / 10, 4), "loss_last10": round(sum(losses[-10:]) / 10, 4)}
            log(f"[{name}] trained {n_tr} params in {time.time() - t0:.0f}s; "
                f"loss {rec['training']['loss_first10']} -> {rec['training']['loss_last10']}")
            if os.path.isdir(ad):
                shutil.rmtree(ad)
            os.makedirs(d, exist_ok=True)
            pm.save_pretrained(d)  # writes d/adapter_config.json + adapter_model.safetensors (+ README)
            os.makedirs(ad)
            for fn in ("adapter_config.json", "adapter_model.safetensors"):
                os.replace(os.path.join(d, fn), os.path.join(ad, fn))
            if os.path.exists(os.path.join(d, "README.md")):
                os.remove(os.path.join(d, "README.md"))
            normalize_adapter(ad, spec["dtype"], BASE_NAME)
            base = pm.unload() if name != "soft-prompt" else pm.get_base_model()
            del pm
        elif name in experts_g and "training" in experts_g[name]:
            rec["training"] = experts_g[name]["training"]
        write_manifest(name, spec, d)

        # golden outputs: adapter reloaded from disk (the stored fp16/bf16 values, upcast to f32)
        pm = PeftModel.from_pretrained(base, ad).eval()
        rows = []
        for user in spec["eval"]:
            ids = prompt_ids(tok, user)
            t0 = time.time()
            e_toks, e_gaps = greedy(pm, ids, pad_id)
            rows.append(dict(user=user, prompt_ids=ids, expert_ids=e_toks, **gap_fields("expert", e_toks, e_gaps, eos_id)))
            log(f"[{name}] expert: {answer_text(tok, e_toks)!r} ({time.time() - t0:.0f}s)")
        base = pm.unload() if name != "soft-prompt" else pm.get_base_model()
        del pm
        for r in rows:
            b_toks, b_gaps = greedy(base, r["prompt_ids"], pad_id)
            r["base_ids"] = b_toks
            r.update(gap_fields("base", b_toks, b_gaps, eos_id))
            et, bt = answer_text(tok, r["expert_ids"]), answer_text(tok, b_toks)
            ok, why = spec["check"](et)
            b_ok, b_why = spec["check"](bt)
            r.update(rendered=render(tok, r["user"]), expert_text=tok.decode(r["expert_ids"]), expert_answer=et,
                     base_text=tok.decode(b_toks), base_answer=bt, differs_from_base=r["expert_ids"] != b_toks,
                     check={"expert": ok, "expert_note": why, "base": b_ok, "base_note": b_why})
            log(f"[{name}] base:   {bt!r}  -> expert ok={ok} ({why}); base ok={b_ok}")
            if not ok or not r["differs_from_base"]:
                failures.append(f"{name}: {r['user']!r}: {why}")
        rec["eval"] = rows
        size = pack(d, os.path.join(out, f"{name}.expert"))
        rec["expert_bytes"] = size
        log(f"[{name}] {name}.expert: {size} bytes")
        if size >= MAX_EXPERT_BYTES:
            failures.append(f"{name}: {name}.expert is {size} bytes (limit {MAX_EXPERT_BYTES})")
        experts_g[name] = rec
        write_golden(golden_path, experts_g)  # after each expert: a later failure keeps the earlier goldens
    if failures:
        print("BEHAVIOUR CHECKS FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)


def write_golden(golden_path, experts_g):
    golden = {
        "format": "hive-expert-golden-v1",
        "doc": ("Per expert, 3 held-out eval prompts: prompt_ids = tokenizer(rendered, add_special_tokens=False) "
                "where rendered = apply_chat_template([user], add_generation_prompt=True) (SmolLM2 default system "
                "prompt); expert_ids = PEFT greedy continuation (adapter reloaded from <name>/adapter, base "
                "dequantized from the GGUF to float32, eager attention, eval mode, generate(do_sample=False, "
                f"max_new_tokens={N_NEW}, eos_token_id=None): always {N_NEW} tokens, past <|im_end|>); base_ids = "
                "the same without the adapter. *_answer = decoded text up to <|im_end|> (id 2); *_eos_index = index "
                "of the first <|im_end|> in *_ids (null if none). *_decision_gaps[k] = top-1 minus top-2 logit of "
                f"the row that chose token k; *_stable_prefix = index of the first gap below {SAFE_GAP} (all 48 when "
                "none): tokens before it must match exactly, later ones may flip under f32 reordering (most "
                "near-ties come after <|im_end|>, where the model invents a next turn). Compare with Hive run "
                "--weights f32 (the default Q4_1 path differs by quantization noise)."),
        "base_model": {"name": BASE_NAME, "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf", "sha256": BASE_SHA256,
                       "weights": "f32 (dequantized)"},
        "n_new_tokens": N_NEW,
        "generator": gc.versions(),
        "experts": {k: experts_g[k] for k in EXPERTS if k in experts_g},
    }
    gc.write_json(golden_path, golden)
    log(f"wrote {golden_path}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Make the tokenizer golden fixtures the C tests compare against.

Pinned reference versions (pip install these exact ones):
    transformers==5.23.0  tokenizers==0.23.3  gguf==0.19.0  (Jinja2 for chat templates)

What it writes (under tests/data/tokenizer/):
  smollm2_golden.json   ids for every case of corpus.json with SmolLM2's tokenizer, the
                        decoded text (with and without special tokens), and rendered chat
                        prompts for SmolLM2's, Qwen2.5's and Qwen3's templates.
  smollm2/              the SmolLM2 tokenizer as transformers saves it (tokenizer.json and
                        tokenizer_config.json), so the C test can check the JSON path too.
  vocab_golden/<name>.json  (only with --llama-cpp-sdist) the same corpus, plus llama.cpp's own
                        test cases, for the Qwen2, Qwen3.5, Llama-3, StarCoder and GPT-2 vocabularies
                        that llama.cpp ships; their tokenizer.json files are too big to commit and
                        go to --cache-dir (the C test skips them when absent).

The SmolLM2 reference: transformers builds the tokenizer from the GGUF file, but for
tokenizer.ggml.pre = "smollm" (and "starcoder") it sets no digit splitting, while the model's own
tokenizer.json (and llama.cpp) pre-tokenize with Sequence[Digits(individual_digits=true),
ByteLevel(use_regex=true)]. The reference here is the real one: the GGUF tokenizer with that
pre-tokenizer put back. The ids transformers gives without it are kept too ("ids_gpt2"): they are
what plain GPT-2 pre-tokenization gives, and the C test checks them with pre = "gpt2".

Usage:
    pip download llama-cpp-python==0.3.36 --no-deps --no-binary :all: -d /tmp/lcp
    scripts/make-tokenizer-fixtures.py [--gguf PATH] [--llama-cpp-sdist /tmp/lcp/llama_cpp_python-0.3.36.tar.gz]
"""
import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile

import tokenizers
import transformers
from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

PINNED = {"transformers": "5.23.0", "tokenizers": "0.23.3", "gguf": "0.19.0"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "tokenizer")
DEFAULT_GGUF = os.environ.get(
    "HIVE_TEST_GGUF", os.path.expanduser("~/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
DIGIT_PRE = ("smollm", "starcoder")
IGNORE_MERGES_PRE = ("llama-bpe", "llama3", "llama-v3")  # Llama-3's tokenizer.json has "ignore_merges": true
LLAMA_CPP_VOCABS = {  # name in the sdist -> file stem
    "qwen2": "ggml-vocab-qwen2", "qwen35": "ggml-vocab-qwen35", "llama-bpe": "ggml-vocab-llama-bpe",
    "starcoder": "ggml-vocab-starcoder", "gpt-2": "ggml-vocab-gpt-2",
}

CHATS = [
    {"messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": False},
    {"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"}],
     "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."},
                  {"role": "user", "content": "Another?"}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": True, "enable_thinking": False},
    {"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": True, "enable_thinking": True},
    {"messages": [{"role": "user", "content": "Q1"},
                  {"role": "assistant", "content": "<think>\nfirst thoughts\n</think>\n\nA1"},
                  {"role": "user", "content": "Q2"},
                  {"role": "assistant", "content": "<think>\n\nmore\n\n</think>\n\n\nA2"}],
     "add_generation_prompt": False},
    {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "call it"},
                  {"role": "assistant", "content": "calling"},
                  {"role": "tool", "content": "{\"ok\": true}"}, {"role": "tool", "content": "42"},
                  {"role": "assistant", "content": "<think>plan</think>done"}],
     "add_generation_prompt": True, "enable_thinking": False},
    {"messages": [{"role": "user", "content": "line1\nline2\n"}, {"role": "system", "content": "late system"}],
     "add_generation_prompt": True},
]


def check_versions():
    import gguf  # noqa: F401  (imported for its version)
    import importlib.metadata as md
    found = {name: md.version(name) for name in PINNED}
    if found != PINNED:
        sys.exit(f"reference versions differ: want {PINNED}, have {found}")


def load_gguf_tokenizer(path, real_pre=True):
    """transformers' tokenizer for a GGUF; real_pre puts back what its converter leaves out of the
    model's own tokenizer.json: the digit split (SmolLM2, StarCoder) and ignore_merges (Llama-3)."""
    from gguf import GGUFReader
    tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    pre = GGUFReader(path).fields["tokenizer.ggml.pre"].contents()
    if real_pre and pre in DIGIT_PRE:
        tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    if real_pre and pre in IGNORE_MERGES_PRE:
        tok.backend_tokenizer.model.ignore_merges = True
    return tok, pre


def encode(tok, text, split_special=False):
    return tok(text, add_special_tokens=False, split_special_tokens=split_special)["input_ids"]


def encode_cases(tok, texts, full):
    out = []
    for text in texts:
        ids = encode(tok, text)
        case = {"text": text, "ids": ids}
        if full:
            case["ids_no_special"] = encode(tok, text, split_special=True)
            case["decoded"] = tok.decode(ids)
            case["decoded_skip_special"] = tok.decode(ids, skip_special_tokens=True)
        out.append(case)
    return out


def decode_cases(tok):
    """Decoding ids that cut characters apart: HF gives U+FFFD for the pieces."""
    llama = encode(tok, "🦙")
    cases = [llama[:k] for k in range(1, len(llama) + 1)]
    cases += [llama[:1] + encode(tok, "x"), encode(tok, "é")[:1] + llama, [1, 3, 2] + encode(tok, " ok")]
    return [{"ids": ids, "text": tok.decode(ids), "text_skip_special": tok.decode(ids, skip_special_tokens=True)}
            for ids in cases]


def render_chats(tok, templates):
    out = []
    for name, tpl in templates.items():
        for chat in CHATS:
            kwargs = {}
            if "enable_thinking" in chat:
                kwargs["enable_thinking"] = chat["enable_thinking"]
            text = tok.apply_chat_template(chat["messages"], chat_template=tpl, tokenize=False,
                                           add_generation_prompt=chat["add_generation_prompt"], **kwargs)
            out.append({"template": name, "messages": chat["messages"],
                        "add_generation_prompt": chat["add_generation_prompt"],
                        "enable_thinking": chat.get("enable_thinking"), "text": text})
    return out


def save_tokenizer(tok, dest):
    """tokenizer.json + tokenizer_config.json (+ chat_template.jinja), nothing else.
    tokenizer.json is rewritten without indentation (same content, half the size)."""
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        os.makedirs(dest, exist_ok=True)
        for name in ("tokenizer_config.json", "chat_template.jinja"):
            if os.path.exists(os.path.join(tmp, name)):
                shutil.copy(os.path.join(tmp, name), os.path.join(dest, name))
        with open(os.path.join(tmp, "tokenizer.json"), encoding="utf-8") as f:
            data = json.load(f)
        with open(os.path.join(dest, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def smollm2(gguf_path, corpus):
    tok, pre = load_gguf_tokenizer(gguf_path)
    plain, _ = load_gguf_tokenizer(gguf_path, real_pre=False)
    cases = encode_cases(tok, corpus, full=True)
    for case in cases:
        case["ids_gpt2"] = encode(plain, case["text"])
    differ = sum(c["ids"] != c["ids_gpt2"] for c in cases)
    templates = {"smollm2": tok.chat_template}
    for name in ("qwen2.5", "qwen3"):
        with open(os.path.join(DATA, "templates", name + ".jinja"), encoding="utf-8") as f:
            templates[name] = f.read()
    with open(os.path.join(DATA, "templates", "smollm2.jinja"), "w", encoding="utf-8") as f:
        f.write(tok.chat_template)
    golden = {
        "about": "made by scripts/make-tokenizer-fixtures.py; reference: transformers from the GGUF, "
                 "pre-tokenizer as the model's tokenizer.json (Digits + ByteLevel)",
        "versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "gguf": PINNED["gguf"]},
        "gguf": os.path.basename(gguf_path), "gguf_size": os.path.getsize(gguf_path), "pre": pre,
        "bos": tok.bos_token_id, "eos": tok.eos_token_id, "n_vocab": len(tok),
        "cases": cases, "decode": decode_cases(tok), "chat": render_chats(tok, templates),
    }
    write_json(os.path.join(DATA, "smollm2_golden.json"), golden)
    save_tokenizer(tok, os.path.join(DATA, "smollm2"))
    size = os.path.getsize(os.path.join(DATA, "smollm2", "tokenizer.json"))
    print(f"smollm2: {len(cases)} cases ({differ} differ without the digit split), "
          f"{len(golden['chat'])} chats, tokenizer.json {size} bytes")
    if size >= 3 << 20:
        print("warning: smollm2/tokenizer.json is over 3 MB", file=sys.stderr)


def llama_cpp_vocabs(sdist, corpus, cache_dir, names):
    os.makedirs(os.path.join(DATA, "vocab_golden"), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(sdist) as tar:
        members = {os.path.basename(m.name): m for m in tar.getmembers() if "/models/ggml-vocab-" in m.name}
        for name in names:
            stem = LLAMA_CPP_VOCABS[name]
            for ext in (".gguf", ".gguf.inp", ".gguf.out"):
                tar.extract(members[stem + ext], tmp, filter="data")
            base = os.path.join(tmp, os.path.dirname(members[stem + ".gguf"].name), stem)
            tok, pre = load_gguf_tokenizer(base + ".gguf")
            with open(base + ".gguf.inp", encoding="utf-8") as f:
                llama_texts = f.read().split("\n__ggml_vocab_test__\n")
            with open(base + ".gguf.out", encoding="utf-8") as f:
                llama_ids = [[int(x) for x in line.split()] for line in f.read().split("\n")]
            llama_texts[-1] = llama_texts[-1].rstrip("\n")  # the file's last case ends with one
            # "ids": the reference (transformers); "ids_llama_cpp": what llama.cpp's own test expects
            llama_cases = [{"text": t, "ids": encode(tok, t), "ids_llama_cpp": i} for t, i in zip(llama_texts, llama_ids)]
            agree = sum(c["ids"] == c["ids_llama_cpp"] for c in llama_cases)
            write_json(os.path.join(DATA, "vocab_golden", name + ".json"), {
                "pre": pre, "n_vocab": len(tok), "cases": encode_cases(tok, corpus, full=False),
                "llama_cpp_cases": llama_cases})
            save_tokenizer(tok, os.path.join(cache_dir, name))
            print(f"{name}: pre {pre}, transformers agrees with llama.cpp on {agree}/{len(llama_cases)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--llama-cpp-sdist", help="llama-cpp-python sdist (.tar.gz) with llama.cpp's vocab files")
    ap.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/hive/tokenizers"))
    ap.add_argument("--vocabs", default=",".join(LLAMA_CPP_VOCABS), help="which llama.cpp vocabularies")
    ap.add_argument("--skip-smollm2", action="store_true")
    args = ap.parse_args()
    check_versions()
    with open(os.path.join(DATA, "corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    if not args.skip_smollm2:
        smollm2(args.gguf, corpus)
    if args.llama_cpp_sdist:
        llama_cpp_vocabs(args.llama_cpp_sdist, corpus, args.cache_dir, args.vocabs.split(","))


if __name__ == "__main__":
    main()

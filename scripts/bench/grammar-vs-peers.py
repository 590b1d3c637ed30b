#!/usr/bin/env python3
"""grammar-vs-peers.py — structured-output cost, Hive beside XGrammar and llama.cpp's grammar engine.

One command runs the three engines side by side on one schema corpus and two vocabularies, and prints
one table: per engine and vocabulary, schemas compiled (refused), valid instances accepted, masks
computed, mask time per token p50 / p99 / max, and compile time p50 / p99.

Corpus: every draft-7 schema of the JSON-Schema-Test-Suite (Debian package json-schema-test-suite),
each with its valid instances written as compact JSON with members in the schema's order, plus the
schemas under tests/unit/grammar/data (compile time only: they come without instances).

Vocabularies:
  smollm2  SmolLM2-135M-Instruct's 49,152 tokens: the Q4_1 GGUF of scripts/fetch-models.sh (--smollm2-gguf).
  qwen2    Qwen2's 151,936 tokens (the Qwen2/Qwen2.5/Qwen3 BPE): ggml-vocab-qwen2.gguf, the vocabulary-only
           GGUF that llama.cpp ships, taken from the llama-cpp-python 0.3.36 sdist on PyPI (sha256 pinned
           below) into $HIVE_CACHE/grammar-bench/. Hive needs a loadable model, so the script also writes
           there qwen2-vocab-tiny.gguf: that file's metadata and vocabulary with one layer of hidden size 8
           (2.4 MB of zeros). The grammar never reads the weights.

Work per engine, the same for all three (as in generation): each instance is tokenized once with the
vocabulary's own tokenizer (Hive: its tokenizer inside `hive-host grammar check`; XGrammar and llama.cpp
get llama.cpp's ids for the same GGUF; the script flags any instance where Hive's count differs);
before every token one mask over the whole vocabulary is computed and timed, then the token is checked
against that mask and accepted; after the last token one more mask is computed and the instance counts
as accepted when end-of-sequence is allowed there. So an instance of n tokens costs n + 1 masks.
  Hive      `hive-host grammar check --json-schema S --model M --input I... --json` (single-threaded:
            no threads in host/grammar or in the verb). Compile = schema -> grammar; the vocabulary trie
            is built once per model and not counted (it is reported as vocab_ms in --json output).
  XGrammar  xgrammar 0.2.9: TokenizerInfo from the GGUF's token strings (byte-level BPE, the GGUF's
            EOS as the stop token; these are the strings TokenizerInfo.from_huggingface would pass, and
            XGrammar detects the special tokens itself), GrammarCompiler(max_threads=1,
            cache off), compile_json_schema(strict_mode=False: JSON Schema's meaning, additional
            properties allowed unless the schema says otherwise; any whitespace), GrammarMatcher,
            fill_next_token_bitmask (timed) into a torch int32 bitmask, accept_token.
            Compile includes XGrammar's per-grammar token-mask cache, which is where its time goes.
  llama.cpp llama-cpp-python 0.3.36 (llama.cpp's C API through ctypes): the GGUF loaded vocab_only;
            schema -> GBNF with llama_cpp.llama_grammar.json_schema_to_gbnf (the package's port of
            llama.cpp's json_schema_to_grammar.py; it lags llama.cpp's C++ converter, e.g. it turns
            the empty schema {} into "any object"); compile = that conversion +
            llama_sampler_init_grammar (the GBNF parse). Per token: reset a llama_token_data_array
            of every token (not timed), llama_sampler_apply (timed), llama_sampler_accept.
            No context is made, so no thread pool exists; the sampler runs on the calling thread.
The engines run interleaved schema by schema, so a change in the machine's load hits all three.
Peers are timed from Python (time.perf_counter_ns around the one C call; Python's garbage collector
is off inside a schema): that adds the call's own cost, 1-2.5 us, to each of their masks (a no-op
XGrammar call measured 1.0 us, a fill over a 30-token vocabulary 2.4 us), nothing to Hive's.

Rows: one per engine and vocabulary over everything that engine compiled and accepted, then the same
three over the common part: schemas all three compile, instances all three accept (same tokens).

Peers need the venv of scripts/grammar-peers-venv.sh (xgrammar, torch, transformers, llama-cpp-python,
gguf, pinned; 5.7 GiB, and llama.cpp compiled from the sdist: 26 min the first time on the busy 2-core
machine).
Run with any python3: when the peers (or gguf, for the qwen2 vocabulary) are not importable the script
runs that venv script and re-runs itself with the venv's python. `--engines hive --vocab smollm2`
needs nothing but python3, and neither does `--engines hive --vocab qwen2` once the tiny Qwen2 model
is in $HIVE_CACHE/grammar-bench (gguf is only needed to make it).

Exit: 0 ran (the table printed; rejections are results, not failures), 2 usage or setup error.

Hive's masks can be timed by the thread's CPU time instead (--hive-clock cpu, from `grammar check
--json`'s mask_cpu_us_each): on a machine shared with other jobs, wall time counts the time the
mask waited for a core; CPU time does not. Not comparable with the peers' wall times.

Usage: python3 scripts/bench/grammar-vs-peers.py [--host H] [--vocab smollm2,qwen2] [--engines hive,xgrammar,llamacpp]
           [--smollm2-gguf F] [--limit N] [--json FILE] [--verbose] [--hive-clock wall|cpu]
"""
import argparse
import gc
import glob
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = "/usr/share/json-schema-test-suite/tests/draft7"
CACHE = os.environ.get("HIVE_CACHE", os.path.expanduser("~/.cache/hive"))
LCP_VERSION = "0.3.36"
LCP_SDIST = f"llama_cpp_python-{LCP_VERSION}.tar.gz"
LCP_SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
QWEN2_VOCAB_SHA256 = "44c2f46b715f585c6ab513970e8a006bfa5badd6108560054921cf598d154d8c"
ENGINES = ("hive", "xgrammar", "llamacpp")
ENGINE_NAMES = {"hive": "Hive", "xgrammar": "XGrammar 0.2.9", "llamacpp": "llama.cpp (0.3.36)"}
VOCAB_NAMES = {"smollm2": "SmolLM2 49k", "qwen2": "Qwen2 151k"}


def log(msg):
    print(f"grammar-vs-peers: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(2)


# ---------------------------------------------------------------- corpus

def schema_order(schema):
    """Property names in the order the schema lists them (properties first, then required)."""
    out = []

    def walk(s, key):
        if isinstance(s, dict):
            v = s.get(key)
            if key == "properties" and isinstance(v, dict):
                out.extend(k for k in v if k not in out)
            if key == "required" and isinstance(v, list):
                out.extend(k for k in v if isinstance(k, str) and k not in out)
            for c in s.values():
                walk(c, key)
        elif isinstance(s, list):
            for c in s:
                walk(c, key)

    walk(schema, "properties")
    walk(schema, "required")
    return out


def canonical(v, order):
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: (order.index(k) if k in order else len(order)))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(v[k], order) for k in keys) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canonical(x, order) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def corpus():
    items = []
    for f in sorted(glob.glob(os.path.join(SUITE, "*.json"))):
        for g in json.load(open(f)):
            order = schema_order(g["schema"])
            valid = [canonical(t["data"], order) for t in g["tests"] if t["valid"]]
            items.append((f"{os.path.basename(f)}: {g['description']}", g["schema"], valid))
    for f in sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "grammar", "data", "*.schema.json"))):
        items.append((os.path.basename(f), json.load(open(f)), []))
    return items


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


# ---------------------------------------------------------------- vocabularies

def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def qwen2_vocab_gguf():
    """ggml-vocab-qwen2.gguf from the pinned llama-cpp-python sdist (PyPI), cached."""
    d = os.path.join(CACHE, "grammar-bench")
    out = os.path.join(d, "ggml-vocab-qwen2.gguf")
    if os.path.exists(out) and sha256_of(out) == QWEN2_VOCAB_SHA256:
        return out
    os.makedirs(d, exist_ok=True)
    sdist = None
    for cand in (os.path.join(os.environ.get("HIVE_PEER_DIR", os.path.join(CACHE, "peer")), "sdist", LCP_SDIST),
                 os.path.join(d, LCP_SDIST)):
        if os.path.exists(cand) and sha256_of(cand) == LCP_SDIST_SHA256:
            sdist = cand
            break
    if not sdist:
        log(f"downloading llama-cpp-python=={LCP_VERSION} (sdist, 77 MB) from PyPI for its Qwen2 vocabulary")
        if subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                           "-d", d, f"llama-cpp-python=={LCP_VERSION}"]).returncode:
            die(f"pip download llama-cpp-python=={LCP_VERSION} failed")
        sdist = os.path.join(d, LCP_SDIST)
        if sha256_of(sdist) != LCP_SDIST_SHA256:
            die(f"{sdist}: sha256 differs from the pinned {LCP_SDIST_SHA256}")
    member = f"llama_cpp_python-{LCP_VERSION}/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf"
    with tarfile.open(sdist) as tar:
        f = tar.extractfile(member)
        with open(out + ".tmp", "wb") as o:
            o.write(f.read())
    if sha256_of(out + ".tmp") != QWEN2_VOCAB_SHA256:
        die(f"{member}: sha256 differs from the pinned {QWEN2_VOCAB_SHA256}")
    os.replace(out + ".tmp", out)
    return out


def qwen2_tiny_model(vocab_gguf):
    """A qwen2 GGUF Hive can open: the vocabulary file's metadata, one layer of hidden size 8, zero weights."""
    out = os.path.join(os.path.dirname(vocab_gguf), "qwen2-vocab-tiny.gguf")
    stamp = out + ".src-sha256"
    if os.path.exists(out) and os.path.exists(stamp) and open(stamp).read().strip() == QWEN2_VOCAB_SHA256:
        return out
    import numpy as np
    import gguf
    r = gguf.GGUFReader(vocab_gguf)
    arch = r.fields["general.architecture"].contents()
    h, ffn, n_vocab = 8, 8, len(r.fields["tokenizer.ggml.tokens"].data)
    override = {f"{arch}.block_count": 1, f"{arch}.embedding_length": h, f"{arch}.feed_forward_length": ffn,
                f"{arch}.attention.head_count": 1, f"{arch}.attention.head_count_kv": 1}
    w = gguf.GGUFWriter(out + ".tmp", arch)
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key in override:
            w.add_uint32(key, override.pop(key))
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_array(key, field.contents())
        elif vtype == gguf.GGUFValueType.STRING:
            w.add_string(key, field.contents())
        else:
            w.add_key_value(key, field.contents(), vtype)
    for key, v in override.items():
        w.add_uint32(key, v)
    z = lambda *shape: np.zeros(shape, dtype=np.float16)  # noqa: E731
    w.add_tensor("token_embd.weight", z(n_vocab, h))
    w.add_tensor("output_norm.weight", np.ones(h, dtype=np.float32))
    for name, shape in (("attn_norm.weight", (h,)), ("ffn_norm.weight", (h,)), ("attn_q.weight", (h, h)),
                        ("attn_k.weight", (h, h)), ("attn_v.weight", (h, h)), ("attn_output.weight", (h, h)),
                        ("attn_q.bias", (h,)), ("attn_k.bias", (h,)), ("attn_v.bias", (h,)),
                        ("ffn_gate.weight", (ffn, h)), ("ffn_up.weight", (ffn, h)), ("ffn_down.weight", (h, ffn))):
        w.add_tensor(f"blk.0.{name}", np.ones(shape, dtype=np.float32) if len(shape) == 1 else z(*shape))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(out + ".tmp", out)
    with open(stamp, "w") as f:
        f.write(QWEN2_VOCAB_SHA256 + "\n")
    return out


def vocab_files(name, a):
    """(GGUF the peers read, model Hive loads) for a vocabulary name."""
    if name == "smollm2":
        if not os.path.exists(a.smollm2_gguf):
            die(f"{a.smollm2_gguf} is missing: run scripts/fetch-models.sh")
        return a.smollm2_gguf, a.smollm2_gguf
    v = qwen2_vocab_gguf()
    return v, qwen2_tiny_model(v)


# ---------------------------------------------------------------- engines

class Hive:
    def __init__(self, host, model, tmp, clock="wall"):
        self.host, self.model, self.tmp = host, model, tmp
        self.each = "mask_cpu_us_each" if clock == "cpu" else "mask_us_each"

    def run(self, idx, schema, instances):
        """-> dict(compiled, error, compile_ms, inputs=[{accepted, tokens, masks_us, why}])"""
        sp = os.path.join(self.tmp, f"s{idx}.json")
        with open(sp, "w") as f:
            json.dump(schema, f)
        args = []
        for k, text in enumerate(instances):
            ip = os.path.join(self.tmp, f"s{idx}_{k}.json")
            with open(ip, "w", encoding="utf-8") as f:
                f.write(text)
            args += ["--input", ip]
        p = subprocess.run([self.host, "grammar", "check", "--json-schema", sp, "--model", self.model, "--json"] + args,
                           capture_output=True, text=True, env=dict(os.environ, HIVE_LOG="error"))
        if p.returncode == 2:
            err = p.stderr.strip().splitlines()
            return {"compiled": False, "error": err[-1] if err else "exit 2"}
        try:
            r = json.loads(p.stdout)
        except json.JSONDecodeError:
            return {"compiled": False, "error": f"exit {p.returncode}, no JSON: {p.stderr.strip()[-200:]}"}
        ins = [{"accepted": i["accepted"], "tokens": i["tokens"], "masks_us": i[self.each],
                "why": None if i["accepted"] else f"token {i['reject_token']} (byte {i['reject_byte']}): {i['why']}"}
               for i in r["inputs"]]
        return {"compiled": True, "compile_ms": r["compile_ms"], "vocab_ms": r.get("vocab_ms"), "inputs": ins}


class LlamaCpp:
    def __init__(self, gguf_path):
        import ctypes
        import numpy as np
        import llama_cpp as lc
        from llama_cpp import llama_grammar
        self.ct, self.np, self.lc, self.to_gbnf = ctypes, np, lc, llama_grammar.json_schema_to_gbnf
        quiet = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda *_: None)
        self._quiet = quiet  # keep alive
        lc.llama_log_set(quiet, None)
        lc.llama_backend_init()
        mp = lc.llama_model_default_params()
        mp.vocab_only = True
        self.model = lc.llama_model_load_from_file(gguf_path.encode(), mp)
        if not self.model:
            die(f"llama.cpp cannot load {gguf_path}")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = lc.llama_vocab_n_tokens(self.vocab)
        self.eos = lc.llama_vocab_eos(self.vocab)
        self.rec = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)
        self.fresh = np.zeros(self.n_vocab, dtype=self.rec)
        self.fresh["id"] = np.arange(self.n_vocab, dtype=np.int32)
        self.cand = self.fresh.copy()
        self.arr = lc.llama_token_data_array(
            data=self.cand.ctypes.data_as(ctypes.POINTER(lc.llama_token_data)), size=self.n_vocab, selected=-1,
            sorted=False)
        self.arr_p = ctypes.pointer(self.arr)

    def tokenize(self, text):
        b = text.encode("utf-8")
        buf = (self.lc.llama_token * (len(b) + 16))()
        n = self.lc.llama_tokenize(self.vocab, b, len(b), buf, len(buf), False, False)
        if n < 0:
            raise RuntimeError("llama_tokenize: buffer too small")
        return list(buf[:n])

    def run(self, schema, token_lists):
        t0 = time.perf_counter()
        try:
            gbnf = self.to_gbnf(json.dumps(schema))
        except Exception as e:  # the converter raises on what it does not support
            return {"compiled": False, "error": f"json_schema_to_gbnf: {type(e).__name__}: {e}"[:300]}
        t1 = time.perf_counter()
        smpl = self.lc.llama_sampler_init_grammar(self.vocab, gbnf.encode(), b"root")
        t2 = time.perf_counter()
        if not smpl:
            return {"compiled": False, "error": "llama_sampler_init_grammar failed (GBNF parse error)"}
        self.lc.llama_sampler_free(smpl)
        res = {"compiled": True, "compile_ms": (t2 - t0) * 1e3, "convert_ms": (t1 - t0) * 1e3,
               "parse_ms": (t2 - t1) * 1e3, "inputs": []}
        apply, accept, arr_p, cand, fresh = (self.lc.llama_sampler_apply, self.lc.llama_sampler_accept, self.arr_p,
                                             self.cand, self.fresh)
        ninf = -self.np.inf
        for ids in token_lists:
            smpl = self.lc.llama_sampler_init_grammar(self.vocab, gbnf.encode(), b"root")
            masks, why = [], None
            for i in range(len(ids) + 1):
                cand[:] = fresh
                self.arr.size, self.arr.selected, self.arr.sorted = self.n_vocab, -1, False
                s = time.perf_counter_ns()
                apply(smpl, arr_p)
                masks.append((time.perf_counter_ns() - s) / 1e3)
                tok = self.eos if i == len(ids) else ids[i]
                if cand["logit"][tok] == ninf:
                    why = (f"token {i}: not allowed here" if i < len(ids)
                           else f"token {i}: end of input, the grammar is not complete")
                    break
                if i < len(ids):
                    accept(smpl, tok)  # only after checking the mask: an illegal token aborts llama.cpp
            self.lc.llama_sampler_free(smpl)
            res["inputs"].append({"accepted": why is None, "tokens": len(ids), "masks_us": masks, "why": why})
        return res


class XGrammar:
    def __init__(self, gguf_path):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        import gguf
        import torch
        import xgrammar as xgr
        torch.set_num_threads(1)
        self.xgr = xgr
        r = gguf.GGUFReader(gguf_path)
        tokens = r.fields["tokenizer.ggml.tokens"].contents()
        self.eos = int(r.fields["tokenizer.ggml.eos_token_id"].contents())
        model = r.fields["tokenizer.ggml.model"].contents()
        if model != "gpt2":
            die(f"XGrammar: tokenizer model {model}: only byte-level BPE (gpt2) is wired")
        self.info = xgr.TokenizerInfo(tokens, vocab_type=xgr.VocabType.BYTE_LEVEL, vocab_size=len(tokens),
                                      stop_token_ids=[self.eos], add_prefix_space=False)
        self.compiler = xgr.GrammarCompiler(self.info, max_threads=1, cache_enabled=False)
        self.bitmask = xgr.allocate_token_bitmask(1, len(tokens))
        self.n_vocab = len(tokens)
        self.special = list(self.info.special_token_ids)

    def run(self, schema, token_lists):
        xgr = self.xgr
        t0 = time.perf_counter()
        try:
            cg = self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=True, strict_mode=False)
        except Exception as e:
            return {"compiled": False, "error": f"{type(e).__name__}: {e}"[:300]}
        res = {"compiled": True, "compile_ms": (time.perf_counter() - t0) * 1e3, "inputs": []}
        bm = self.bitmask
        fill = None
        for ids in token_lists:
            m = xgr.GrammarMatcher(cg)
            fill = m.fill_next_token_bitmask
            masks, why = [], None
            for i in range(len(ids) + 1):
                s = time.perf_counter_ns()
                fill(bm)
                masks.append((time.perf_counter_ns() - s) / 1e3)
                tok = self.eos if i == len(ids) else ids[i]
                if not (int(bm[0, tok >> 5]) >> (tok & 31)) & 1:
                    why = (f"token {i}: not allowed here" if i < len(ids)
                           else f"token {i}: end of input, the grammar is not complete")
                    break
                if i < len(ids) and not m.accept_token(tok):
                    why = f"token {i}: accept_token refused it"
                    break
            res["inputs"].append({"accepted": why is None, "tokens": len(ids), "masks_us": masks, "why": why})
        return res


# ---------------------------------------------------------------- the run

def summarize(rows, engine, common=None):
    """rows: per schema {engine: result}; common: (schema indices, {(schema, instance)}) to count, or None."""
    compiled = refused = accepted = rejected = 0
    comp, masks = [], []
    for si, r in enumerate(rows):
        e = r["engines"][engine]
        if common is not None and si not in common[0]:
            continue
        if not e["compiled"]:
            refused += 1
            continue
        compiled += 1
        comp.append(e["compile_ms"])
        for k, ins in enumerate(e["inputs"]):
            if common is not None and (si, k) not in common[1]:
                continue
            if ins["accepted"]:
                accepted += 1
                masks.extend(ins["masks_us"])
            else:
                rejected += 1
    return {"schemas": compiled, "refused": refused, "instances_accepted": accepted, "instances_rejected": rejected,
            "masks": len(masks), "mask_us_p50": pct(masks, 0.5), "mask_us_p99": pct(masks, 0.99),
            "mask_us_max": max(masks) if masks else float("nan"), "compile_ms_p50": pct(comp, 0.5),
            "compile_ms_p99": pct(comp, 0.99)}


def run_vocab(vname, a, items, engines):
    peer_gguf, hive_model = vocab_files(vname, a)
    log(f"{vname}: peers read {peer_gguf}; Hive loads {hive_model}")
    need_ids = "xgrammar" in engines or "llamacpp" in engines
    lcpp = LlamaCpp(peer_gguf) if need_ids else None
    t0 = time.perf_counter()
    xg = XGrammar(peer_gguf) if "xgrammar" in engines else None
    if xg:
        log(f"{vname}: XGrammar ready (import, GGUF strings, TokenizerInfo, compiler) in {time.perf_counter() - t0:.1f} s "
            f"({xg.n_vocab} tokens, {len(xg.special)} special)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        hive = Hive(a.host, hive_model, tmp, a.hive_clock) if "hive" in engines else None
        gc.disable()  # no collector pauses inside the peers' timed calls; collected between schemas
        for si, (name, schema, instances) in enumerate(items):
            gc.collect()
            ids = [lcpp.tokenize(t) for t in instances] if lcpp else None
            row = {"schema": name, "instances": instances, "engines": {}}
            if hive:
                row["engines"]["hive"] = hive.run(si, schema, instances)
            if xg:
                row["engines"]["xgrammar"] = xg.run(schema, ids)
            if "llamacpp" in engines:
                row["engines"]["llamacpp"] = lcpp.run(schema, ids)
            if ids is not None:
                row["tokens"] = [len(x) for x in ids]
                h = row["engines"].get("hive")
                if h and h["compiled"]:
                    row["token_count_differs"] = [k for k, i in enumerate(h["inputs"]) if i["tokens"] != len(ids[k])]
            rows.append(row)
            if a.verbose:
                st = {e: ("refused" if not r["compiled"] else
                          f"{sum(i['accepted'] for i in r['inputs'])}/{len(r['inputs'])}")
                      for e, r in row["engines"].items()}
                log(f"{vname} [{si + 1}/{len(items)}] {name}: {st}")
        gc.enable()
    # the common part: schemas all engines compile; instances all accept
    common = (set(), set())
    for si, r in enumerate(rows):
        es = [r["engines"][e] for e in engines]
        if all(e["compiled"] for e in es):
            common[0].add(si)
            for k in range(len(r["instances"])):
                if all(e["inputs"][k]["accepted"] for e in es):
                    common[1].add((si, k))
    summary = {e: summarize(rows, e) for e in engines}
    if len(engines) > 1:
        summary.update({f"{e}@common": summarize(rows, e, common) for e in engines})
    return rows, summary


def fmt_row(engine, vname, s, common=False):
    def us(x):
        if x != x:
            return "-"
        return f"{x:.1f} µs" if x < 100 else (f"{x:.0f} µs" if x < 1000 else f"{x / 1000:.1f} ms")

    def ms(x):
        return "-" if x != x else (f"{x:.2f} ms" if x < 100 else f"{x:.0f} ms")
    name = ENGINE_NAMES[engine] + (" (common)" if common else "")
    return (f"| {name} | {VOCAB_NAMES[vname]} | {s['schemas']} ({s['refused']}) | "
            f"{s['instances_accepted']} / {s['instances_accepted'] + s['instances_rejected']} | {s['masks']} | "
            f"{us(s['mask_us_p50'])} / {us(s['mask_us_p99'])} / {us(s['mask_us_max'])} | "
            f"{ms(s['compile_ms_p50'])} / {ms(s['compile_ms_p99'])} |")


def have_peers():
    try:
        import xgrammar  # noqa: F401
        import llama_cpp  # noqa: F401
        import gguf  # noqa: F401
        return True
    except Exception:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\nUsage:")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default=os.path.join(ROOT, "build", "cpu", "bin", "hive-host"),
                    help="hive-host binary (default build/cpu/bin/hive-host)")
    ap.add_argument("--vocab", default="smollm2,qwen2", help="comma list of smollm2, qwen2 (default both)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma list of hive, xgrammar, llamacpp (default all)")
    ap.add_argument("--smollm2-gguf", default=os.path.join(CACHE, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"),
                    help="SmolLM2 GGUF (scripts/fetch-models.sh fetches it)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N schemas (a smoke run)")
    ap.add_argument("--json", metavar="FILE", help="also write the summary and every per-schema result to FILE")
    ap.add_argument("--verbose", action="store_true", help="one line per schema on stderr")
    ap.add_argument("--hive-clock", choices=("wall", "cpu"), default="wall",
                    help="Hive's mask times: wall clock (default, as the peers) or the thread's CPU time, "
                         "which leaves out the time a loaded machine runs something else (Hive only)")
    a = ap.parse_args()
    engines = [e for e in a.engines.split(",") if e]
    vocabs = [v for v in a.vocab.split(",") if v]
    if any(e not in ENGINES for e in engines) or any(v not in VOCAB_NAMES for v in vocabs) or not engines:
        ap.error("unknown engine or vocabulary")
    if "hive" in engines and not os.access(a.host, os.X_OK):
        ap.error(f"{a.host} is not an executable hive-host")
    peers = [e for e in engines if e != "hive"]
    # Hive alone needs gguf (from the venv) only to make the Qwen2 model the first time
    tiny = os.path.join(CACHE, "grammar-bench", "qwen2-vocab-tiny.gguf")
    qwen2_made = os.path.exists(tiny) and os.path.exists(tiny + ".src-sha256") and \
        open(tiny + ".src-sha256").read().strip() == QWEN2_VOCAB_SHA256
    if (peers or ("qwen2" in vocabs and not qwen2_made)) and not have_peers():
        if os.environ.get("HIVE_GRAMMAR_BENCH_IN_VENV"):
            die("the peers are not importable even in the venv")
        py = subprocess.run([os.path.join(ROOT, "scripts", "grammar-peers-venv.sh")], stdout=subprocess.PIPE,
                            text=True)
        if py.returncode:
            raise SystemExit(2)
        env = dict(os.environ, HIVE_GRAMMAR_BENCH_IN_VENV="1")
        os.execve(py.stdout.strip(), [py.stdout.strip(), os.path.abspath(__file__)] + sys.argv[1:], env)

    items = corpus()
    if not items:
        die(f"no schemas: install the Debian package json-schema-test-suite ({SUITE})")
    if a.limit:
        items = items[:a.limit]
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "engines": engines, "vocabs": {}}
    lines = ["| engine | vocab | schemas (refused) | valid instances accepted | masks | mask p50 / p99 / max "
             "| compile p50 / p99 |", "|---|---|---|---|---|---|---|"]
    for v in vocabs:
        rows, summary = run_vocab(v, a, items, engines)
        out["vocabs"][v] = {"summary": summary, "schemas": rows}
        for e in engines:
            lines.append(fmt_row(e, v, summary[e]))
        if len(engines) > 1:
            for e in engines:
                lines.append(fmt_row(e, v, summary[f"{e}@common"], common=True))
        for e in engines:
            bad = [(r["schema"], k, i["why"]) for r in rows if r["engines"][e]["compiled"]
                   for k, i in enumerate(r["engines"][e]["inputs"]) if not i["accepted"]]
            for name, k, why in bad:
                log(f"{v}: {e} rejected valid instance {k} of '{name}': {why}")
        differ = [(r["schema"], k) for r in rows for k in r.get("token_count_differs", [])]
        for name, k in differ:
            log(f"{v}: Hive's tokenizer and llama.cpp's split instance {k} of '{name}' into different counts")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

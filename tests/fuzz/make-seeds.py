#!/usr/bin/env python3
"""Writes the non-GGUF seeds of tests/fuzz/corpus/ from files the repository
already has (small test fixtures, the example experts), cut down where the
originals are large. GGUF seeds: make_gguf_seeds.c. Run from anywhere:
    python3 tests/fuzz/make-seeds.py
Regression inputs (crash-*, leak-*, timeout-*) that fuzzing found are kept
by hand beside these seeds; this script does not touch them."""
import io
import json
import os
import shutil
import struct
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
GOLD = os.path.join(ROOT, "tests", "golden", "data")
EXPERTS = os.path.join(ROOT, "examples", "experts")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def put(name, data):
    path = os.path.join(CORPUS, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] -> file bytes."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def small_smollm2_tokenizer():
    """The SmolLM2 tokenizer cut to its first 300 tokens and the merges among them."""
    tok = json.loads(read(os.path.join(ROOT, "tests", "data", "tokenizer", "smollm2", "tokenizer.json")))
    vocab = {k: v for k, v in tok["model"]["vocab"].items() if v < 300}
    merges = []
    for m in tok["model"]["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append([a, b])
    tok["model"]["vocab"] = vocab
    tok["model"]["merges"] = merges[:200]
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["id"] < 300]
    return tok


def tokenizer_seeds():
    cfg = read(os.path.join(GOLD, "llama", "tokenizer_config.json"))
    put("tokenizer_json/golden-bytelevel.json", read(os.path.join(GOLD, "llama", "tokenizer.json")) + b"\0" + cfg)
    tok = small_smollm2_tokenizer()
    smol_cfg = read(os.path.join(ROOT, "tests", "data", "tokenizer", "smollm2", "tokenizer_config.json"))
    put("tokenizer_json/smollm2-300.json", json.dumps(tok).encode() + b"\0" + smol_cfg)
    # the same vocabulary with qwen2's Split pre-tokenizer, string merges and a template list
    tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
                                               " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
    tok["model"]["merges"] = [" ".join(m) for m in tok["model"]["merges"][:100]]
    qcfg = {"bos_token": {"content": "<|im_start|>"}, "eos_token": "<|im_end|>", "add_bos_token": True,
            "chat_template": [{"name": "default", "template": "{% if enable_thinking %}{% endif %}<|im_start|>"}]}
    put("tokenizer_json/qwen2-split.json", json.dumps(tok).encode() + b"\0" + json.dumps(qcfg).encode())


def safetensors_seeds():
    for arch, kind in (("llama", "ia3"), ("llama", "prompt"), ("qwen2", "ia3"), ("qwen3", "lora_rs")):
        put(f"safetensors/{arch}-{kind}.safetensors",
            read(os.path.join(GOLD, arch, "adapters", kind, "adapter_model.safetensors")))
    put("safetensors/every-dtype.safetensors", safetensors([
        ("f32", "F32", [2, 2], b"\0" * 16), ("f16", "F16", [3], b"\0" * 6), ("bf16", "BF16", [1, 2], b"\0" * 4),
        ("i32", "I32", [2], b"\1\0\0\0\2\0\0\0"), ("i8", "I8", [4], b"\1\2\3\4"), ("scalar", "F32", [], b"\0" * 4),
        ("empty", "F16", [0, 4], b"")], metadata={"format": "pt"}))


def adapter_config_seeds():
    seen = set()
    for arch in sorted(os.listdir(GOLD)):
        adir = os.path.join(GOLD, arch, "adapters")
        for kind in sorted(os.listdir(adir)) if os.path.isdir(adir) else []:
            data = read(os.path.join(adir, kind, "adapter_config.json"))
            if data not in seen:
                seen.add(data)
                put(f"adapter_config/{arch}-{kind}.json", data)
    for name in ("json", "sql", "ia3", "soft-prompt"):
        put(f"adapter_config/example-{name}.json", read(os.path.join(EXPERTS, name, "adapter", "adapter_config.json")))
    put("adapter_config/patterns.json", json.dumps({
        "peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": "model\\.layers\\.\\d+\\.self_attn\\.(q|v)_proj",
        "exclude_modules": ["k_proj"], "rank_pattern": {"q_proj": 2, "layers\\.1\\..*": 6},
        "alpha_pattern": {"v_proj": 3.5}, "layers_to_transform": [0, 2], "layers_pattern": "layers",
        "modules_to_save": ["lm_head"], "use_rslora": True, "bias": "none"}).encode())


def manifest_seeds():
    for name in ("json", "sql", "ia3", "soft-prompt"):
        d = os.path.join(EXPERTS, name)
        put(f"manifest/{name}.json",
            read(os.path.join(d, "manifest.json")) + b"\0" + read(os.path.join(d, "adapter", "adapter_config.json")))
    put("manifest/schema-1.0.json", json.dumps({
        "name": "v1", "version": "1.0.0", "schema_version": "1.0",
        "base_model": {"name": "Qwen3-0.6B", "sha256": "0" * 64, "quantization": "int4"},
        "adapters": [{"type": "lora", "path": "adapter/adapter_model.safetensors", "r": 2, "alpha": 4,
                      "size_bytes": 160, "sha256": "a" * 64, "dropout": 0.1}],
        "constraints": {"max_chain": 2, "requires": ["x"], "incompatible_with": ["y"], "load_order": 1},
        "training": {"decoding": {"max_new_tokens": 10, "stop_sequences": ["a,b", "</s>"], "use_grammar": True}},
        "runtime": {"candle_compatible": True}, "author": "me"}).encode()
        + b"\0" + json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}).encode())


def tar_bytes(entries, mode):
    """entries: [(name, bytes | ('dir',) | ('sym', target) | ('hard', target))]."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as t:
        for name, what in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if isinstance(what, bytes):
                info.size = len(what)
                t.addfile(info, io.BytesIO(what))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}[what[0]]
            if info.type == tarfile.DIRTYPE:
                info.mode = 0o755
            else:
                info.linkname = what[1]
            t.addfile(info)
    return buf.getvalue()


def archive_seeds():
    put("expert_archive/soft-prompt.expert", read(os.path.join(EXPERTS, "soft-prompt.expert")))
    manifest = json.loads(read(os.path.join(EXPERTS, "json", "manifest.json")))
    cfg = read(os.path.join(EXPERTS, "json", "adapter", "adapter_config.json"))
    weights = safetensors([("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "F32", [2, 4], b"\0" * 32),
                           ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", "F32", [4, 2], b"\0" * 32)])
    files = [("manifest.json", json.dumps(manifest).encode()), ("adapter/", ("dir",)),
             ("adapter/adapter_config.json", cfg), ("adapter/adapter_model.safetensors", weights)]
    put("expert_archive/small.tar", tar_bytes(files, "w"))
    put("expert_archive/small-in-dir.tar.gz", tar_bytes([("pkg/" + n, w) for n, w in files], "w:gz"))
    put("expert_archive/links.tar", tar_bytes(files + [
        ("adapter/weights-link", ("sym", "adapter_model.safetensors")),
        ("adapter/hard-copy", ("hard", "adapter/adapter_config.json")),
        ("escape", ("sym", "../outside"))], "w"))


def hf_config_seeds():
    """config.json: the golden models' and the RoPE fixtures', compacted, and edge cases."""
    def compact(path):
        return json.dumps(json.loads(read(path)), separators=(",", ":")).encode()
    for arch in sorted(os.listdir(GOLD)):
        path = os.path.join(GOLD, arch, "config.json")
        if os.path.isfile(path):
            put(f"hf_config/{arch}.json", compact(path))
    blazr = os.path.join(GOLD, "blazr")  # blazr's flat configs (host/model/blazr.c)
    for name in sorted(os.listdir(blazr)):
        put(f"hf_config/blazr-{name}.json", compact(os.path.join(blazr, name, "config.json")))
    rope = os.path.join(GOLD, "rope")
    for arch in sorted(os.listdir(rope)):
        for name in sorted(os.listdir(os.path.join(rope, arch))):
            if name.endswith(".config.json"):
                put(f"hf_config/rope-{arch}-{name[:-len('.config.json')]}.json", compact(os.path.join(rope, arch, name)))
    base = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 32, "intermediate_size": 64,
            "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 256}
    moe = dict(base, model_type="qwen3_moe", num_hidden_layers=4, num_experts=4, num_experts_per_tok=2,
               moe_intermediate_size=24)
    edge = {
        # rope_scaling wins over rope_parameters; yarn with every parameter, truncate false
        "yarn-both-objects": dict(base, rope_parameters={"rope_type": "linear", "factor": 2, "rope_theta": 5e5},
                                  rope_scaling={"type": "yarn", "factor": 8.0, "beta_fast": 16, "beta_slow": 2,
                                                "mscale": 0.7, "mscale_all_dim": 0.7, "attention_factor": 1.2,
                                                "truncate": False, "original_max_position_embeddings": 32}),
        # yarn without a factor (max_ctx / original); top-level original_max_position_embeddings
        "yarn-no-factor": dict(base, original_max_position_embeddings=64, rope_scaling={"rope_type": "yarn"}),
        # longrope: lists of unequal length, and one with a non-positive entry
        "longrope-unequal": dict(base, rope_scaling={"rope_type": "longrope", "short_factor": [1.0] * 8,
                                                     "long_factor": [2.0] * 7}),
        "longrope-bad-entry": dict(base, rope_scaling={"rope_type": "longrope", "short_factor": [1, 0, 1, 1, 1, 1, 1, 1],
                                                       "long_factor": [2] * 8}),
        "llama3-dynamic": dict(base, rope_scaling={"rope_type": "llama3", "factor": 8, "low_freq_factor": 1,
                                                   "high_freq_factor": 4}, rope_parameters={"rope_type": "dynamic"}),
        # MoE: both expert-count names, a shared expert on qwen2_moe, sparse step 0
        "moe-keys": dict(moe, model_type="qwen2_moe", num_local_experts=6, norm_topk_prob=True,
                         shared_expert_intermediate_size=48, decoder_sparse_step=0, mlp_only_layers=None),
        "moe-architectures": dict({k: v for k, v in moe.items() if k != "model_type"},
                                  architectures=["Qwen3MoeForCausalLM"], decoder_sparse_step=3, mlp_only_layers=[0, 3]),
        # mlp_only_layers entries that are not layer indices
        "moe-mlp-only-bad": dict(moe, mlp_only_layers=[1, "2", -1, 1.5, 4, None]),
        "moe-mlp-only-not-list": dict(moe, mlp_only_layers={"0": 1}),
        "moe-too-many-used": dict(moe, num_experts_per_tok=5, num_experts=None),
    }
    for name, cfg in edge.items():
        put(f"hf_config/{name}.json", json.dumps(cfg, separators=(",", ":")).encode())


def expert_weight_seeds():
    """A spec, then a NUL byte and adapter_config.json (some golden adapters', the SQL expert's)."""
    cfgs = [read(os.path.join(GOLD, arch, "adapters", kind, "adapter_config.json"))
            for arch, kind in (("llama", "lora"), ("qwen3", "lora_rs"), ("qwen2", "dora"))]
    cfgs.append(read(os.path.join(EXPERTS, "sql", "adapter", "adapter_config.json")))
    cfgs.append(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 1e308,
                            "alpha_pattern": {"q_proj": 3.5, "v_proj": "x", "k_proj": 1e-300}}).encode())
    specs = [b"a.expert:0.5", b"x:1e2", b"dir/with:colon", b":", b"p:", b"examples/experts/sql:1.5", b"q:1e-400",
             b"q:100.0000001", b"q:nan", b"/tmp:0.25"]
    for i, spec in enumerate(specs):
        name = "".join(c if c.isalnum() or c in ".-" else "_" for c in spec.decode())
        put(f"expert_weight/spec-{i}-{name}", spec + b"\0" + cfgs[i % len(cfgs)])


if __name__ == "__main__":
    tokenizer_seeds()
    safetensors_seeds()
    adapter_config_seeds()
    manifest_seeds()
    archive_seeds()
    hf_config_seeds()
    expert_weight_seeds()

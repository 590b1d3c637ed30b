#!/usr/bin/env python3
"""make-moe-gguf.py — tests/golden/data/qwen3_moe.gguf: the tiny Qwen3-MoE fixture converted by
llama.cpp's own converter (convert_hf_to_gguf.py), f32, so Hive's GGUF reader (stacked expert
tensors blk.N.ffn_{gate,up,down}_exps, ffn_gate_inp, qwen3moe.expert_* keys) is checked against
the file llama.cpp writes, and its logits against the same transformers golden as the safetensors.

The converter refuses the fixture's toy byte-level tokenizer (its pre-tokenizer hash is not in
llama.cpp's list); it is GPT-2's byte-level BPE, so the pre-tokenizer is named "gpt-2" here.
llama.cpp also refuses a BPE vocabulary without merges, and the toy one has none: one merge of
bytes 0x00 0x01 (which no text here contains) is added, so llama-bench can load the file for
the speed comparison in docs/PERFORMANCE.md. Nothing else of the converter is changed.

Pinned: the llama.cpp source vendored in llama-cpp-python 0.3.36's sdist, as unpacked by
scripts/bench/build-llamacpp.sh into ${XDG_CACHE_HOME:-~/.cache}/hive/peer/llama.cpp; Python env
of scripts/requirements-fixtures.txt (torch, transformers, gguf 0.19.0 not needed: the converter
uses its own gguf-py).

Usage: python3 scripts/make-moe-gguf.py [--llama-cpp DIR] [--model tests/golden/data/qwen3_moe]
                                        [--out tests/golden/data/qwen3_moe.gguf] [--outtype f32]
(scripts/bench/layers-vs-llamacpp.sh also converts larger random models with it.)
"""
import argparse
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp", default=os.path.join(os.environ.get("HIVE_PEER_DIR") or
                                                       os.path.join(cache, "hive", "peer"), "llama.cpp"))
    ap.add_argument("--model", default=os.path.join(here, "..", "tests", "golden", "data", "qwen3_moe"))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "golden", "data", "qwen3_moe.gguf"))
    ap.add_argument("--outtype", default="f32", help="the converter's --outtype (f32, q8_0, ...)")
    a = ap.parse_args()
    src = os.path.abspath(a.llama_cpp)
    if not os.path.isfile(os.path.join(src, "convert_hf_to_gguf.py")):
        sys.exit(f"make-moe-gguf: no convert_hf_to_gguf.py in {src}; run scripts/bench/build-llamacpp.sh first")
    sys.path.insert(0, src)
    sys.path.insert(1, os.path.join(src, "gguf-py"))
    from conversion import base  # noqa: E402  (llama.cpp's converter package)

    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
    import gguf  # noqa: E402  (the converter's own gguf-py, first on sys.path)

    add_to_gguf = gguf.SpecialVocab.add_to_gguf

    def add_with_a_merge(self, gw, *args, **kwargs):
        if not self.merges:
            self.merges = ["\u0100 \u0101"]  # GPT-2's byte->unicode map of bytes 0x00 and 0x01
        return add_to_gguf(self, gw, *args, **kwargs)

    gguf.SpecialVocab.add_to_gguf = add_with_a_merge
    import convert_hf_to_gguf  # noqa: E402

    sys.argv = ["convert_hf_to_gguf.py", os.path.abspath(a.model), "--outtype", a.outtype, "--outfile",
                os.path.abspath(a.out)]
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main()

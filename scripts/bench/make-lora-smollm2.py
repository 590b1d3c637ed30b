#!/usr/bin/env python3
"""One random LoRA r=16 on all 7 linears of every SmolLM2-135M layer, as a plain PEFT directory.

Usage: make-lora-smollm2.py OUT_DIR F16|F32 ALPHA

The cold-load fixture of docs/PERFORMANCE.md ("Uploads without extra copies"): 210 modules,
lora_A [16, in] and lora_B [out, 16] with weights k/4096 (k in -255..255, exact in F16), PEFT key
names, adapter_config.json with r 16 and lora_alpha ALPHA (16: s = 1, so an F32 B needs no scaling).
Standard library only (make-lora-experts.py needs numpy and a model directory). Deterministic.
"""
import json
import os
import random
import struct
import sys

R, HIDDEN, KV, INTER, LAYERS = 16, 576, 192, 1536, 30
MODULES = {"self_attn.q_proj": (HIDDEN, HIDDEN), "self_attn.k_proj": (HIDDEN, KV), "self_attn.v_proj": (HIDDEN, KV),
           "self_attn.o_proj": (HIDDEN, HIDDEN), "mlp.gate_proj": (HIDDEN, INTER), "mlp.up_proj": (HIDDEN, INTER),
           "mlp.down_proj": (INTER, HIDDEN)}


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("F16", "F32"):
        sys.exit(__doc__)
    out, dtype, alpha = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(7)
    fmt = "e" if dtype == "F16" else "f"
    header, blobs, off = {}, [], 0
    for layer in range(LAYERS):
        for mod, (fin, fout) in MODULES.items():
            for suffix, shape in ((".lora_A.weight", [R, fin]), (".lora_B.weight", [fout, R])):
                n = shape[0] * shape[1]
                data = struct.pack("<%d%s" % (n, fmt), *[rng.randint(-255, 255) / 4096.0 for _ in range(n)])
                header["base_model.model.model.layers.%d.%s%s" % (layer, mod, suffix)] = {
                    "dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
                blobs.append(data)
                off += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # tensor data 8-byte aligned, as safetensors writes it
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    config = {"peft_type": "LORA", "r": R, "lora_alpha": alpha, "task_type": "CAUSAL_LM",
              "target_modules": [m.split(".")[1] for m in MODULES],
              "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"}
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f)


if __name__ == "__main__":
    main()

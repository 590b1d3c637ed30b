#!/usr/bin/env python3
"""A random Mamba2 (Hugging Face layout, f32 safetensors) sized like mamba2-130m's mixer (hidden
768, 24 heads x 64, state 128, one group), 4 layers, the tiny fixture's 260-token vocabulary and
tokenizer; pure Python, no torch or numpy (for the chunked-scan timings in docs/HYBRID.md).
Usage: python3 scripts/bench/make-random-mamba2-pure.py OUT_DIR"""
import array, json, math, os, random, shutil, struct, sys

out = sys.argv[1]
fixture = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'golden', 'data', 'mamba2')
os.makedirs(out, exist_ok=True)
for f in ('tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'chat_template.jinja'):
    shutil.copy(os.path.join(fixture, f), out)
cfg = json.load(open(os.path.join(fixture, 'config.json')))
D_, H, P, N, G, L = 768, 24, 64, 128, 1, 4
cfg.update(hidden_size=D_, num_heads=H, head_dim=P, state_size=N, n_groups=G, num_hidden_layers=L, chunk_size=256)
json.dump(cfg, open(out + '/config.json', 'w'), indent=2)
random.seed(1)
block = array.array('f', [random.uniform(-1, 1) for _ in range(1 << 20)])
def rnd(n, scale, off=0):
    a = array.array('f')
    while len(a) < n: a.extend(block)
    del a[n:]
    return array.array('f', (v * scale + off for v in a)) if scale != 1 or off else a
inner = H * P; conv = inner + 2 * G * N
tensors = {'backbone.embeddings.weight': ([260, D_], rnd(260 * D_, 0.5)),
           'backbone.norm_f.weight': ([D_], rnd(D_, 0, 1)), 'lm_head.weight': ([260, D_], rnd(260 * D_, 0.05))}
for l in range(L):
    p = f'backbone.layers.{l}.'
    tensors[p + 'norm.weight'] = ([D_], rnd(D_, 0, 1))
    tensors[p + 'mixer.A_log'] = ([H], array.array('f', [math.log(1 + 15 * h / (H - 1)) for h in range(H)]))
    tensors[p + 'mixer.D'] = ([H], rnd(H, 0, 1))
    dts = [math.exp(math.log(0.001) + h / (H - 1) * (math.log(0.1) - math.log(0.001))) for h in range(H)]
    tensors[p + 'mixer.dt_bias'] = ([H], array.array('f', [d + math.log(-math.expm1(-d)) for d in dts]))
    tensors[p + 'mixer.conv1d.weight'] = ([conv, 1, 4], rnd(conv * 4, 0.5))
    tensors[p + 'mixer.conv1d.bias'] = ([conv], rnd(conv, 0.1))
    tensors[p + 'mixer.in_proj.weight'] = ([2 * inner + 2 * G * N + H, D_], rnd((2 * inner + 2 * G * N + H) * D_, 1 / math.sqrt(D_)))
    tensors[p + 'mixer.norm.weight'] = ([inner], rnd(inner, 0, 1))
    tensors[p + 'mixer.out_proj.weight'] = ([D_, inner], rnd(D_ * inner, 1 / math.sqrt(inner)))
hdr, off = {'__metadata__': {'format': 'pt'}}, 0
for k, (shape, a) in tensors.items():
    hdr[k] = {'dtype': 'F32', 'shape': shape, 'data_offsets': [off, off + 4 * len(a)]}; off += 4 * len(a)
h = json.dumps(hdr).encode(); h += b' ' * (-len(h) % 8)
with open(out + '/model.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(h))); f.write(h)
    for k, (shape, a) in tensors.items(): a.tofile(f)

"""PyTorch side of bench/run.mjs: reads JSON commands on stdin, answers one JSON line each.
Rows mirror bench/rows.mjs by name. Run with the system PyTorch (/usr/bin/python3)."""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
g = torch.Generator().manual_seed(0)


def op_row(make_inputs, fn, backward):
    def setup():
        xs = make_inputs()
        if backward:
            for x in xs:
                x.requires_grad_(True)
        return xs

    def step(xs):
        y = fn(xs)
        if backward:
            y.sum().backward()
            for x in xs:
                x.grad = None
    return setup, step


def conv(c, s):
    return lambda: [torch.randn(8, c, s, s, generator=g), torch.randn(c, c, 3, 3, generator=g) * 0.03, torch.randn(c, generator=g)]


def gn(c, s):
    return lambda: [torch.randn(8, c, s, s, generator=g), torch.ones(c), torch.randn(c, generator=g)]


def attn():
    return lambda: [torch.randn(8, 256, 256, generator=g) for _ in range(3)]


def attention(xs):
    q, k, v = xs
    return torch.softmax(q @ k.transpose(-2, -1) * (1.0 / math.sqrt(q.shape[-1])), dim=-1) @ v


ROWS = {}
for bwd, suffix in [(False, 'fwd'), (True, 'fwd+bwd')]:
    ROWS[f'conv3x3 128ch@32² b8 {suffix}'] = op_row(conv(128, 32), lambda xs: F.conv2d(xs[0], xs[1], xs[2], padding=1), bwd)
    ROWS[f'conv3x3 256ch@16² b8 {suffix}'] = op_row(conv(256, 16), lambda xs: F.conv2d(xs[0], xs[1], xs[2], padding=1), bwd)
    ROWS[f'groupnorm 128ch@32² b8 {suffix}'] = op_row(gn(128, 32), lambda xs: F.group_norm(xs[0], 32, xs[1], xs[2], 1e-6), bwd)
    ROWS[f'groupnorm 256ch@16² b8 {suffix}'] = op_row(gn(256, 16), lambda xs: F.group_norm(xs[0], 32, xs[1], xs[2], 1e-6), bwd)
    ROWS[f'attention 256ch 256tok b8 {suffix}'] = op_row(attn(), attention, bwd)


def run(name, iters, warmup):
    setup, step = ROWS[name]
    state = setup()
    for _ in range(warmup):
        step(state)
    times = []
    c0 = time.process_time()
    w0 = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        step(state)
        times.append((time.perf_counter() - t0) * 1000)
    wall = time.perf_counter() - w0
    return {'times': times, 'share': (time.process_time() - c0) / (wall * threads)}


for line in sys.stdin:
    msg = json.loads(line)
    try:
        out = run(msg['row'], msg['iters'], msg['warmup'])
    except Exception as e:  # report, keep serving
        out = {'error': f'{type(e).__name__}: {e}'}
    sys.stdout.write(json.dumps(out) + '\n')
    sys.stdout.flush()

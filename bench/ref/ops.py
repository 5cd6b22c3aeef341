"""PyTorch reference for langevin's op tests.

Reads a JSON list of cases on stdin; each case names an op, its inputs (float64 data, shape,
dtype, whether it needs a gradient), op arguments and an upstream gradient. Writes, per case, the
op's output(s) and the gradients of sum(output * upstream) with respect to each input.
Run with the system PyTorch: /usr/bin/python3 bench/ref/ops.py < cases.json > out.json
"""
import base64
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

DT = {'float32': torch.float32, 'float64': torch.float64, 'int64': torch.int64, 'bool': torch.bool,
      'uint8': torch.uint8, 'int32': torch.int32}


def dec(spec):
    arr = np.frombuffer(base64.b64decode(spec['data']), dtype=np.float64).copy()
    return torch.from_numpy(arr).reshape(spec['shape'])


def enc(t):
    t = t.detach().to(torch.float64).contiguous()
    return {'shape': list(t.shape), 'data': base64.b64encode(t.numpy().tobytes()).decode()}


def pad4(p):
    return p if isinstance(p, int) else tuple(p)


def conv2d(x, a):
    w, b = x[1], x[2] if len(x) > 2 else None
    p = a.get('padding', 0)
    if isinstance(p, list) and len(p) == 4:
        xin = F.pad(x[0], (p[2], p[3], p[0], p[1]))
        return F.conv2d(xin, w, b, a.get('stride', 1), 0, a.get('dilation', 1), a.get('groups', 1))
    return F.conv2d(x[0], w, b, a.get('stride', 1), pad4(p), a.get('dilation', 1), a.get('groups', 1))


def timestep_embedding(t, dim, max_period=10000.0):
    half = dim // 2
    scale = math.log(max_period) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -scale)
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 == 1 else emb


def attention(x, a):
    q, k, v = x[0], x[1], x[2]
    scale = a.get('scale', 1.0 / math.sqrt(q.shape[-1]))
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1) @ v


def batch_norm(x, a):
    rm = x[1].detach().clone() if a.get('stats') else None
    rv = x[2].detach().clone() if a.get('stats') else None
    w = x[3] if len(x) > 3 else None
    b = x[4] if len(x) > 4 else None
    y = F.batch_norm(x[0], rm, rv, w, b, a['training'], a.get('momentum', 0.1), a.get('eps', 1e-5))
    return [y, rm, rv] if a.get('stats') else y


OPS = {
    'add': lambda x, a: x[0] + x[1],
    'addAlpha': lambda x, a: torch.add(x[0], x[1], alpha=a['alpha']),
    'sub': lambda x, a: x[0] - x[1],
    'mul': lambda x, a: x[0] * x[1],
    'div': lambda x, a: x[0] / x[1],
    'pow': lambda x, a: x[0] ** x[1],
    'mulScalar': lambda x, a: x[0] * a['s'],
    'powScalar': lambda x, a: x[0] ** a['s'],
    'maximum': lambda x, a: torch.maximum(x[0], x[1]),
    'minimum': lambda x, a: torch.minimum(x[0], x[1]),
    'unary': lambda x, a: getattr(torch, a['fn'])(x[0]),
    'silu': lambda x, a: F.silu(x[0]),
    'relu': lambda x, a: F.relu(x[0]),
    'clamp': lambda x, a: torch.clamp(x[0], a.get('min'), a.get('max')),
    'compare': lambda x, a: getattr(torch, a['fn'])(x[0], x[1]),
    'where': lambda x, a: torch.where(x[0] > 0, x[1], x[2]),
    'sum': lambda x, a: x[0].sum(a['dims'], keepdim=a.get('keepdim', False)) if 'dims' in a else x[0].sum(),
    'mean': lambda x, a: x[0].mean(a['dims'], keepdim=a.get('keepdim', False)) if 'dims' in a else x[0].mean(),
    'var': lambda x, a: torch.var(x[0], a.get('dims'), correction=a.get('correction', 1), keepdim=a.get('keepdim', False)),
    'std': lambda x, a: torch.std(x[0], a.get('dims'), correction=a.get('correction', 1), keepdim=a.get('keepdim', False)),
    'amax': lambda x, a: torch.amax(x[0], a['dims']),
    'maxDim': lambda x, a: list(torch.max(x[0], a['dim'])),
    'argmax': lambda x, a: torch.argmax(x[0], a['dim']),
    'logsumexp': lambda x, a: torch.logsumexp(x[0], a['dims']),
    'prod': lambda x, a: torch.prod(x[0], a['dim']),
    'norm': lambda x, a: torch.norm(x[0], p=a['p'], dim=a['dims']),
    'sort': lambda x, a: list(torch.sort(x[0], dim=a['dim'], descending=a['descending'], stable=True)),
    'topk': lambda x, a: list(torch.topk(x[0], a['k'], dim=a['dim'])),
    'cumsum': lambda x, a: torch.cumsum(x[0], a['dim']),
    'matmul': lambda x, a: x[0] @ x[1],
    'cdist': lambda x, a: torch.cdist(x[0], x[1], p=a['p'], compute_mode='donot_use_mm_for_euclid_dist'),
    'eighValues': lambda x, a: torch.linalg.eigh(x[0] + x[0].transpose(-2, -1))[0],
    'reshape': lambda x, a: x[0].reshape(a['shape']),
    'permute': lambda x, a: x[0].permute(a['dims']),
    'slice': lambda x, a: x[0][:, a['start']:a['end']:a['step']],
    'select': lambda x, a: x[0].select(a['dim'], a['index']),
    'index': lambda x, a: x[0][x[1].long()],
    'indexPut': lambda x, a: x[0].index_put((x[1].long(),), x[2], accumulate=a['accumulate']),
    'gather': lambda x, a: torch.gather(x[0], a['dim'], x[1].long()),
    'indexSelect': lambda x, a: torch.index_select(x[0], a['dim'], x[1].long()),
    'scatterAdd': lambda x, a: torch.scatter_add(x[0], a['dim'], x[1].long(), x[2]),
    'cat': lambda x, a: torch.cat([x[0], x[1]], a['dim']),
    'stack': lambda x, a: torch.stack([x[0], x[1]], a['dim']),
    'pad': lambda x, a: F.pad(x[0], a['pads'], mode=a['mode'], value=a.get('value', 0.0)) if a['mode'] == 'constant' else F.pad(x[0], a['pads'], mode=a['mode']),
    'flip': lambda x, a: torch.flip(x[0], a['dims']),
    'expand': lambda x, a: x[0].expand(a['shape']),
    'repeat': lambda x, a: x[0].repeat(a['reps']),
    'conv2d': conv2d,
    'linear': lambda x, a: F.linear(x[0], x[1], x[2] if len(x) > 2 else None),
    'groupNorm': lambda x, a: F.group_norm(x[0], a['groups'], x[1], x[2], a.get('eps', 1e-5)),
    'batchNorm': batch_norm,
    'leakyRelu': lambda x, a: F.leaky_relu(x[0], a['slope']),
    'softplus': lambda x, a: F.softplus(x[0], a.get('beta', 1), a.get('threshold', 20)),
    'softmax': lambda x, a: F.softmax(x[0], a['dim']),
    'logSoftmax': lambda x, a: F.log_softmax(x[0], a['dim']),
    'avgPool2d': lambda x, a: F.avg_pool2d(x[0], a['kernel'], a.get('stride'), a.get('padding', 0), a.get('ceilMode', False), a.get('countIncludePad', True)),
    'maxPool2d': lambda x, a: F.max_pool2d(x[0], a['kernel'], a.get('stride'), a.get('padding', 0), 1, a.get('ceilMode', False)),
    'adaptiveAvgPool2d': lambda x, a: F.adaptive_avg_pool2d(x[0], a['size']),
    'upsampleNearest': lambda x, a: F.interpolate(x[0], scale_factor=a['scale'], mode='nearest'),
    'resizeBilinear': lambda x, a: F.interpolate(x[0], size=a['size'], mode='bilinear', align_corners=a.get('alignCorners', False)),
    'attention': attention,
    'crossEntropy': lambda x, a: F.cross_entropy(x[0], x[1].long(), reduction=a.get('reduction', 'mean'), label_smoothing=a.get('labelSmoothing', 0.0)),
    'mseLoss': lambda x, a: F.mse_loss(x[0], x[1], reduction=a.get('reduction', 'mean')),
    'timestepEmbedding': lambda x, a: timestep_embedding(x[0], a['dim']),
    'dropoutEval': lambda x, a: F.dropout(x[0], a['p'], training=False),
}


def run(case):
    inputs = []
    for spec in case['inputs']:
        t = dec(spec).to(DT[spec['dtype']])
        if spec.get('grad'):
            t.requires_grad_(True)
        inputs.append(t)
    out = OPS[case['op']](inputs, case.get('args', {}))
    outs = out if isinstance(out, list) else [out]
    res = {'name': case['name'], 'outputs': [enc(o) for o in outs], 'grads': []}
    if any(s.get('grad') for s in case['inputs']):
        up = dec(case['upstream']).to(outs[0].dtype)
        loss = (outs[0] * up).sum()
        wrt = [t for t, s in zip(inputs, case['inputs']) if s.get('grad')]
        grads = torch.autograd.grad(loss, wrt, allow_unused=True)
        res['grads'] = [enc(g) if g is not None else None for g in grads]
    return res


def main():
    torch.set_num_threads(1)
    cases = json.load(sys.stdin)
    results = []
    for case in cases:
        try:
            results.append(run(case))
        except Exception as e:  # report per case so one failure does not hide the rest
            results.append({'name': case['name'], 'error': f'{type(e).__name__}: {e}'})
    json.dump(results, sys.stdout)


if __name__ == '__main__':
    main()

"""PyTorch reference for langevin's optimizers, clipping, warmup and EMA on fixed tensors.
Reads JSON {cases: [...]} on stdin; each case: params (lists), grads per step (lists), optimizer
settings, clip, warmup, ema decay. Writes the parameters (and EMA shadows) after every step."""
import json
import sys

import torch

torch.set_default_dtype(torch.float64)


def run(c):
    params = [torch.tensor(p, dtype=torch.float32, requires_grad=True) for p in c['params']]
    kind, lr = c['optimizer'], c['lr']
    if kind == 'adam':
        opt = torch.optim.Adam(params, lr=lr, betas=tuple(c.get('betas', (0.9, 0.999))), eps=c.get('eps', 1e-8), weight_decay=c.get('weightDecay', 0))
    elif kind == 'adamw':
        opt = torch.optim.AdamW(params, lr=lr, betas=tuple(c.get('betas', (0.9, 0.999))), eps=c.get('eps', 1e-8), weight_decay=c.get('weightDecay', 0.01))
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=c.get('momentum', 0), dampening=c.get('dampening', 0), weight_decay=c.get('weightDecay', 0),
                              nesterov=c.get('nesterov', False))
    warmup = c.get('warmup', 0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(s / warmup, 1.0) if warmup else 1.0)
    shadow = [p.detach().clone() for p in params]
    decay, ema_warm = c.get('emaDecay'), c.get('emaWarmup', False)
    out = {'params': [], 'norms': [], 'ema': []}
    for step, grads in enumerate(c['grads']):
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g, dtype=torch.float32)
        if c.get('clip'):
            out['norms'].append(float(torch.nn.utils.clip_grad_norm_(params, c['clip'])))
        opt.step()
        sched.step()
        if decay is not None:
            d = min(decay, (1 + step) / (10 + step)) if ema_warm else decay
            with torch.no_grad():
                for s, p in zip(shadow, params):
                    s.lerp_(p.detach(), 1 - d)
            out['ema'].append([s.flatten().tolist() for s in shadow])
        out['params'].append([p.detach().flatten().tolist() for p in params])
    return out


json.dump([run(c) for c in json.load(sys.stdin)], sys.stdout)

"""PyTorch reference for langevin's JEM, written from the paper and the official code's formulas:
the energy and its input gradient, K SGLD steps (x ← x − α·∂E/∂x + σ·ε, ε drawn per step from one
generator), the replay buffer's chain starts, and the JEM loss with its parameter gradients.

  /usr/bin/python3 bench/ref/jem.py parity IN.safetensors OUT.safetensors
"""
import copy
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import safetensors_io  # noqa: E402


def energy(model, x, y=None):
    logits = model(x)
    return -logits.gather(1, y.view(-1, 1)).squeeze(1) if y is not None else -logits.logsumexp(1)


def sgld(model, x, steps, step_size, noise, gen, y=None, grad_clamp=None, clamp=None):
    model.eval()
    x = x.clone()
    for _ in range(steps):
        xi = x.detach().requires_grad_(True)
        g = torch.autograd.grad(energy(model, xi, y).sum(), [xi])[0]
        if grad_clamp is not None:
            g = g.clamp(-grad_clamp, grad_clamp)
        x = x.detach() - g * step_size
        if noise > 0:
            x = x + torch.randn(x.shape, generator=gen) * noise
        if clamp is not None:
            x = x.clamp(clamp[0], clamp[1])
    return x


def buffer_sample(buf, batch, reinit, gen, classes=None, y=None):
    """The official sample_p_0: indices, fresh U[-1, 1] samples, re-init coin flips — in that order."""
    if classes:
        if y is None:
            y = torch.randint(0, classes, (batch,), generator=gen)
        chunk = buf.shape[0] // classes
        inds = y * chunk + torch.randint(0, chunk, (batch,), generator=gen)
    else:
        inds = torch.randint(0, buf.shape[0], (batch,), generator=gen)
    stored = buf[inds]
    fresh = torch.rand((batch,) + tuple(buf.shape[1:]), generator=gen) * 2 - 1
    choose = (torch.rand(batch, generator=gen) < reinit).float().view(-1, 1, 1, 1)
    return choose * fresh + (1 - choose) * stored, inds


def parity(src, dst):
    t_in, meta = safetensors_io.read(src)
    model = models.build('wrn', json.loads(meta['model']))
    model.load_state_dict({k[6:]: v for k, v in t_in.items() if k.startswith('model.')})
    model.eval()
    out = {}
    x, y = t_in['x'], t_in['y']
    xi = x.clone().requires_grad_(True)
    e = energy(model, xi)
    out['energy'] = e.detach()
    out['grad'] = torch.autograd.grad(e.sum(), [xi])[0]
    xi = x.clone().requires_grad_(True)
    ey = energy(model, xi, y)
    out['energy_y'] = ey.detach()
    out['grad_y'] = torch.autograd.grad(ey.sum(), [xi])[0]
    cfg = json.loads(meta['sgld'])
    for name, kw in cfg.items():
        out['sgld.' + name] = sgld(model, x, gen=torch.Generator().manual_seed(int(meta['seed'])), y=y if kw.get('cond') else None,
                                   steps=kw['steps'], step_size=kw['stepSize'], noise=kw['noise'], grad_clamp=kw.get('gradClamp'),
                                   clamp=kw.get('clamp'))
    if meta.get('bf16') == 'true':
        # langevin's computeDtype 'bfloat16' written the PyTorch way (models.mixed_precision).
        mixed = models.mixed_precision(copy.deepcopy(model))
        xi = x.clone().requires_grad_(True)
        e = energy(mixed, xi)
        out['bf16.energy'] = e.detach()
        out['bf16.grad'] = torch.autograd.grad(e.sum(), [xi])[0]
        out['bf16.sgld'] = sgld(mixed, x, 5, 1.0, 0.01, torch.Generator().manual_seed(int(meta['seed'])))
    buf = t_in['buffer']
    xs, inds = buffer_sample(buf, x.shape[0], float(meta['reinit']), torch.Generator().manual_seed(int(meta['seed'])))
    out['buffer.x'], out['buffer.inds'] = xs, inds
    xs, inds = buffer_sample(buf, x.shape[0], float(meta['reinit']), torch.Generator().manual_seed(int(meta['seed'])), classes=int(meta['classes']))
    out['buffer_cond.x'], out['buffer_cond.inds'] = xs, inds
    # The JEM loss in training mode on fixed batches and its parameter gradients.
    model.train()
    n = t_in['x_data'].shape[0]
    e_all = -model(torch.cat([t_in['x_data'], t_in['x_q']])).logsumexp(1)
    lpx = e_all[:n].mean() - e_all[n:].mean()
    ce = F.cross_entropy(model(t_in['x_lab']), t_in['y_lab'])
    loss = ce + lpx
    out['loss'] = torch.stack([loss, ce, lpx]).detach()
    for name, g in zip([n for n, _ in model.named_parameters()], torch.autograd.grad(loss, list(model.parameters()))):
        out['lossgrad.' + name] = g
    # PGD steps (eval mode) from a perturbed start.
    model.eval()
    x0, xs = t_in['x'], t_in['pgd_start']
    for norm in ('linf', 'l2'):
        out['pgd.' + norm] = pgd_step(model, x0, xs, y, float(meta['pgd_eps']), float(meta['pgd_alpha']), norm)
    safetensors_io.write(dst, {k: v.contiguous() for k, v in out.items()})


def pgd_step(model, x0, x, y, eps, alpha, norm):
    xi = x.detach().requires_grad_(True)
    g = torch.autograd.grad(F.cross_entropy(model(xi), y, reduction='sum'), [xi])[0]
    shape = (-1,) + (1,) * (x.dim() - 1)
    if norm == 'linf':
        d = g.sign()
    else:
        d = g / g.flatten(1).norm(dim=1).clamp(min=1e-12).view(shape)
    delta = x.detach() + alpha * d - x0
    if norm == 'linf':
        delta = delta.clamp(-eps, eps)
    else:
        n = delta.flatten(1).norm(dim=1).clamp(min=1e-12).view(shape)
        delta = delta * (eps / n).clamp(max=1)
    return (x0 + delta).clamp(-1, 1)


def metrics():
    """stdin JSON {conf, correct, bins, pos, neg} -> {ece, auroc} with numpy/scipy."""
    import numpy as np
    from scipy.stats import rankdata
    a = json.load(sys.stdin)
    conf, correct = np.asarray(a['conf'], dtype=np.float64), np.asarray(a['correct'], dtype=np.float64)
    edges = np.linspace(0, 1, a['bins'] + 1)
    ece = 0.0
    for i in range(a['bins']):
        m = (conf > edges[i]) & (conf <= edges[i + 1]) if i else (conf >= 0) & (conf <= edges[1])
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    pos, neg = np.asarray(a['pos'], dtype=np.float64), np.asarray(a['neg'], dtype=np.float64)
    ranks = rankdata(np.concatenate([pos, neg]))
    auc = (ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    json.dump({'ece': ece, 'auroc': auc}, sys.stdout)


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == 'parity':
        parity(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2 and sys.argv[1] == 'metrics':
        metrics()
    else:
        sys.exit(__doc__)

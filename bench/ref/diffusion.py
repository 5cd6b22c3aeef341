"""PyTorch reference for langevin's Gaussian diffusion, written from the paper and the original
release's formulas (float64 tables, float32 tensors): schedules, q_sample, L_simple, the posterior,
the reverse step (both fixed variances, clipping on/off), DDIM (diffusers' defaults), the VLB terms,
and a trainer with langevin's seed policy for the side-by-side training runs.

  /usr/bin/python3 bench/ref/diffusion.py parity IN.safetensors OUT.safetensors
  /usr/bin/python3 bench/ref/diffusion.py train --init W.safetensors --seed S --steps N --out DIR [...]
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import safetensors_io  # noqa: E402

# ---------------------------------------------------------------- schedules and tables (float64)


def betas(schedule='linear', T=1000, start=1e-4, end=0.02):
    if schedule == 'linear':
        return np.linspace(start, end, T, dtype=np.float64)
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    return np.array([min(1 - f(i + 1) / f(i), 0.999) for i in range(T)], dtype=np.float64)


class Diffusion:
    def __init__(self, b, variance='fixedlarge', clip=True):
        self.T = len(b)
        self.betas = b
        ac = np.cumprod(1.0 - b)
        prev = np.append(1.0, ac[:-1])
        self.ac, self.ac_prev = ac, prev
        self.sqrt_ac = np.sqrt(ac)
        self.sqrt_1m_ac = np.sqrt(1.0 - ac)
        self.sqrt_recip_ac = np.sqrt(1.0 / ac)
        self.sqrt_recipm1_ac = np.sqrt(1.0 / ac - 1)
        self.post_var = b * (1.0 - prev) / (1.0 - ac)
        self.post_logvar_clipped = np.log(np.append(self.post_var[1], self.post_var[1:]))
        self.coef1 = b * np.sqrt(prev) / (1.0 - ac)
        self.coef2 = (1.0 - prev) * np.sqrt(1.0 - b) / (1.0 - ac)
        self.model_logvar = np.log(np.append(self.post_var[1], b[1:])) if variance == 'fixedlarge' else self.post_logvar_clipped
        self.clip = clip

    @staticmethod
    def extract(table, t, like):
        return torch.from_numpy(table)[t.long()].float().view(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0, t, noise):
        return self.extract(self.sqrt_ac, t, x0) * x0 + self.extract(self.sqrt_1m_ac, t, x0) * noise

    def loss(self, model, x0, g):
        t = torch.randint(0, self.T, (x0.shape[0],), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        eps = model(self.q_sample(x0, t, noise), t)
        per = ((noise - eps) ** 2).flatten(1).mean(1)
        return per.mean(), per

    def predict_x0(self, xt, t, eps):
        return xt * self.sqrt_recip_ac[t] - eps * self.sqrt_recipm1_ac[t]

    def posterior(self, x0, xt, t):
        return x0 * self.coef1[t] + xt * self.coef2[t], self.post_logvar_clipped[t]

    def p_mean(self, xt, t, eps, clip):
        x0 = self.predict_x0(xt, t, eps)
        if clip:
            x0 = x0.clamp(-1, 1)
        return self.posterior(x0, xt, t)[0], self.model_logvar[t], x0

    def ancestral_step(self, xt, t, eps, z, clip):
        mean, logvar, _ = self.p_mean(xt, t, eps, clip)
        return mean + z * math.exp(0.5 * logvar) if t > 0 else mean

    def ddim_step(self, xt, t, eps, z, steps, eta, clip):
        stride = self.T // steps
        a = self.ac[t]
        a_prev = self.ac[t - stride] if t - stride >= 0 else 1.0
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a)) * math.sqrt(1 - a / a_prev)
        x0 = (xt - math.sqrt(1 - a) * eps) / math.sqrt(a)  # diffusers' order of operations
        if clip:
            x0 = x0.clamp(-1, 1)
        out = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev - sigma ** 2) * eps
        return out + sigma * z if sigma > 0 else out


def normal_kl(m1, lv1, m2, lv2):
    lv1, lv2 = torch.as_tensor(lv1, dtype=torch.float64), torch.as_tensor(lv2, dtype=torch.float64)
    return 0.5 * (-1.0 + lv2 - lv1 + torch.exp(lv1 - lv2) + (m1 - m2) ** 2 * torch.exp(-lv2))


def approx_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_ll(x, means, log_scales):
    centered = x - means
    inv = torch.exp(-torch.as_tensor(log_scales, dtype=torch.float64))
    cdf_plus = approx_cdf(inv * (centered + 1.0 / 255))
    cdf_min = approx_cdf(inv * (centered - 1.0 / 255))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_1m_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_1m_cdf_min, log_delta))


def vlb_term(d, x0, xt, t, eps, clip):
    """bits/dim per example, in float64 (as langevin computes it)."""
    x0, xt, eps = x0.double(), xt.double(), eps.double()
    mean, logvar, _ = d.p_mean(xt, t, eps, clip)
    if t == 0:
        return -discretized_ll(x0, mean, 0.5 * logvar).flatten(1).mean(1) / math.log(2)
    tm, tlv = d.posterior(x0, xt, t)
    return normal_kl(tm, tlv, mean, logvar).flatten(1).mean(1) / math.log(2)


def prior_bpd(d, x0):
    x0 = x0.double()
    mean = x0 * d.sqrt_ac[-1]
    return normal_kl(mean, math.log(1 - d.ac[-1]), torch.zeros_like(mean), 0.0).flatten(1).mean(1) / math.log(2)


# ---------------------------------------------------------------- parity: fixed tensors in, results out


def parity(src, dst):
    t_in, meta = safetensors_io.read(src)
    cfg = json.loads(meta['config'])
    d = Diffusion(betas(cfg.get('schedule', 'linear'), cfg.get('timesteps', 1000)), cfg.get('variance', 'fixedlarge'))
    model = models.build('unet', json.loads(meta['model']))
    model.load_state_dict({k[6:]: v for k, v in t_in.items() if k.startswith('model.')})
    model.eval()
    x0, noise, z = t_in['x0'], t_in['noise'], t_in['z']
    t_batch = t_in['t']
    out = {}
    for k in ('betas', 'ac', 'post_var', 'post_logvar_clipped', 'coef1', 'coef2', 'model_logvar'):
        out['table.' + k] = torch.from_numpy(getattr(d, k)).clone()
    with torch.no_grad():
        out['q_sample'] = d.q_sample(x0, t_batch, noise)
        g = torch.Generator().manual_seed(int(meta['seed']))
        loss, per = d.loss(model, x0, g)
        out['loss'], out['loss_per'] = loss.reshape(1), per
        for t in json.loads(meta['steps_t']):
            xt = d.q_sample(x0, torch.full((x0.shape[0],), t, dtype=torch.long), noise)
            eps = model(xt, torch.full((x0.shape[0],), t, dtype=torch.long))
            out[f'xt.{t}'] = xt
            out[f'eps.{t}'] = eps
            pm, plv = d.posterior(x0, xt, t)
            out[f'posterior_mean.{t}'] = pm
            for clip in (0, 1):
                out[f'ancestral.{t}.clip{clip}'] = d.ancestral_step(xt, t, eps, z, bool(clip))
                out[f'x0hat.{t}.clip{clip}'] = d.p_mean(xt, t, eps, bool(clip))[2]
                for eta in (0.0, 1.0):
                    out[f'ddim.{t}.clip{clip}.eta{int(eta)}'] = d.ddim_step(xt, t, eps, z, int(meta['ddim_steps']), eta, bool(clip))
            out[f'vlb.{t}'] = vlb_term(d, x0, xt, t, eps, True)
        out['prior'] = prior_bpd(d, x0)
    safetensors_io.write(dst, {k: v.contiguous() for k, v in out.items()})


# ---------------------------------------------------------------- trainer (langevin's seed policy)

MASK64 = (1 << 64) - 1


def stream_seed(seed, purpose, index=0):
    h = (seed * 0x9E3779B97F4A7C15) & MASK64
    for ch in f'{purpose}#{index}':
        h = ((h ^ ord(ch)) * 0xBF58476D1CE4E5B9) & MASK64
        h ^= h >> 31
    h = (h * 0x94D049BB133111EB) & MASK64
    h ^= h >> 29
    return h & ((1 << 53) - 1)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def read_idx_images(path, pad=2):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[i:i + 4], 'big') for i in (4, 8, 12))
    x = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(n, 1, h, w)
    return torch.nn.functional.pad(x, (pad, pad, pad, pad))


def to_float(u8):
    return u8.float().div_(127.5).sub_(1.0)


def train(a):
    torch.set_num_threads(a.threads)
    cfg = dict(inChannels=1, outChannels=1, resolution=32, channels=32, channelMult=(1, 2, 2), numResBlocks=1, attnResolutions=(8,), dropout=0.0, groups=8)
    model = models.UNet(**cfg)
    w, _ = safetensors_io.read(a.init)
    model.load_state_dict(w)
    d = Diffusion(betas('linear', 1000))
    data = read_idx_images(os.path.join(a.data, 'train-images-idx3-ubyte.gz'))
    valid = read_idx_images(os.path.join(a.data, 't10k-images-idx3-ubyte.gz'))[:a.valid_size]
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    params = list(model.parameters())
    shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, 'log.jsonl'), 'w')
    per_epoch = data.shape[0] // a.batch
    order, epoch = None, -1

    def val_loss(weights):
        m = models.UNet(**cfg)
        m.load_state_dict(weights)
        m.eval()
        g = gen(stream_seed(a.seed, 'valid'))
        total = 0.0
        with torch.no_grad():
            for s in range(0, valid.shape[0], 256):
                total += d.loss(m, to_float(valid[s:s + 256]), g)[1].sum().item()
        return total / valid.shape[0]

    t0 = time.time()
    for step in range(a.steps):
        e = step // per_epoch
        if e != epoch:
            epoch, order = e, torch.randperm(data.shape[0], generator=gen(stream_seed(a.seed, 'order', e)))
        k = step - e * per_epoch
        x = to_float(data[order[k * a.batch:(k + 1) * a.batch]])
        ga = gen(stream_seed(a.seed, 'augment', step))
        mask = torch.empty(x.shape[0]).bernoulli_(0.5, generator=ga).bool().view(-1, 1, 1, 1)
        x = torch.where(mask, x.flip(3), x)
        lr = a.lr * step / a.warmup if step < a.warmup else a.lr
        for group in opt.param_groups:
            group['lr'] = lr
        loss, _ = d.loss(model, x, gen(stream_seed(a.seed, 'noise', step)))
        opt.zero_grad()
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, a.clip).item()
        opt.step()
        decay = min(a.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for k2, v in model.state_dict().items():
                shadow[k2].lerp_(v, 1 - decay)
        rec = {'step': step + 1, 'loss': loss.item(), 'lr': lr, 'gradNorm': gn, 'wall': time.time() - t0}
        if a.eval_every and (step + 1) % a.eval_every == 0:
            rec['eval'] = {'loss': val_loss(model.state_dict()), 'emaLoss': val_loss(shadow)}
        log.write(json.dumps(rec) + '\n')
        log.flush()
    safetensors_io.write(os.path.join(a.out, 'ema.safetensors'), {k: v.contiguous() for k, v in shadow.items()})


if __name__ == '__main__':
    if sys.argv[1] == 'parity':
        parity(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'train':
        p = argparse.ArgumentParser()
        p.add_argument('cmd')
        p.add_argument('--init', required=True)
        p.add_argument('--seed', type=int, default=0)
        p.add_argument('--steps', type=int, required=True)
        p.add_argument('--out', required=True)
        p.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
        p.add_argument('--batch', type=int, default=64)
        p.add_argument('--lr', type=float, default=5e-4)
        p.add_argument('--warmup', type=int, default=500)
        p.add_argument('--clip', type=float, default=1.0)
        p.add_argument('--ema', type=float, default=0.999)
        p.add_argument('--eval-every', type=int, default=200)
        p.add_argument('--valid-size', type=int, default=1024)
        p.add_argument('--threads', type=int, default=1)
        train(p.parse_args())
    else:
        sys.exit(__doc__)

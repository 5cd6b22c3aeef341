"""PyTorch side of bench/run.mjs: reads JSON commands on stdin, answers one JSON line each.
Rows mirror bench/rows.mjs by name. Run with the system PyTorch (/usr/bin/python3)."""
import json
import math
import sys
import time
import types

import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
# The speed rows' device (bench/run.mjs --device); on CUDA both sides autotune cuDNN and allow TF32.
DEVICE = __import__('os').environ.get('LANGEVIN_BENCH_DEVICE', 'cpu')
if DEVICE != 'cpu':
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True


def sync():
    if DEVICE != 'cpu':
        torch.cuda.synchronize()
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


sys.path.insert(0, __file__.rsplit('/', 1)[0])
import models  # noqa: E402

PRESETS = {
    'ddpmCifar10': ('unet', dict(inChannels=3, resolution=32, channels=128, channelMult=[1, 2, 2, 2], numResBlocks=2, attnResolutions=[16], dropout=0.1)),
    'ddpm256': ('unet', dict(inChannels=3, resolution=256, channels=128, channelMult=[1, 1, 2, 2, 4, 4], numResBlocks=2, attnResolutions=[16], dropout=0.0)),
    'ddpmSmall': ('unet', dict(inChannels=1, outChannels=1, resolution=32, channels=64, channelMult=[1, 2, 2], numResBlocks=2, attnResolutions=[16], dropout=0.1)),
    'ddpmTiny': ('unet', dict(inChannels=1, outChannels=1, resolution=32, channels=32, channelMult=[1, 2, 2], numResBlocks=1, attnResolutions=[8], dropout=0.0, groups=8)),
    'wrn28-10': ('wrn', dict(depth=28, widen=10, classes=10, inChannels=3, resolution=32)),
    'wrn10-2': ('wrn', dict(depth=10, widen=2, classes=10, inChannels=1, resolution=32)),
}


def randomize(m):
    """Full-scale random weights, as the langevin side (the DDPM init is ~1e-10 in places)."""
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 1 / math.sqrt(p[0].numel()), generator=g)
            elif name.endswith('weight'):
                p.uniform_(0.5, 1.5, generator=g)
            else:
                p.normal_(0, 0.1, generator=g)
    return m


def randomized(preset):
    kind, cfg = PRESETS[preset]
    return randomize(models.build(kind, cfg)), cfg


def model_row(preset, batch, mode, training=False):
    kind, cfg = PRESETS[preset]

    def setup():
        m, _ = randomized(preset)
        m.train(training)
        c, r = cfg['inChannels'], cfg['resolution']
        x = torch.randn(batch, c, r, r, generator=g)
        t = torch.randint(0, 1000, (batch,), generator=g)
        return m, x, t

    def step(state):
        m, x, t = state
        fwd = (lambda inp: m(inp, t)) if kind == 'unet' else m
        if mode == 'fwd':
            with torch.no_grad():
                fwd(x)
        elif mode == 'fwd+bwd':
            fwd(x).square().mean().backward()
            for p in m.parameters():
                p.grad = None
        else:
            xi = x.detach().requires_grad_(True)
            torch.autograd.grad(fwd(xi).logsumexp(1).sum(), [xi])
    return setup, step


ROWS['ddpmCifar10 b8 fwd'] = model_row('ddpmCifar10', 8, 'fwd')
ROWS['ddpmCifar10 b8 fwd+bwd'] = model_row('ddpmCifar10', 8, 'fwd+bwd')
ROWS['ddpmCifar10 b8 fwd+bwd train (dropout)'] = model_row('ddpmCifar10', 8, 'fwd+bwd', training=True)
ROWS['wrn28-10 b8 fwd+input-grad'] = model_row('wrn28-10', 8, 'input-grad')
ROWS['ddpmSmall b64 fwd'] = model_row('ddpmSmall', 64, 'fwd')
ROWS['ddpmSmall b64 fwd+bwd'] = model_row('ddpmSmall', 64, 'fwd+bwd')
ROWS['ddpm256 b1 fwd'] = model_row('ddpm256', 1, 'fwd')

# ---- bf16 autocast, the way a PyTorch user runs mixed precision ---------------------------------
def autocast_ready(m):
    """PyTorch 1.13's CPU autocast leaves group_norm out of its lists, so a bf16 activation meets
    float32 GroupNorm weights and fails; PyTorch 2.x runs group_norm in float32 under autocast.
    Casting the GroupNorm inputs to float32 gives 1.13 that 2.x behaviour."""
    for mod in m.modules():
        if isinstance(mod, torch.nn.GroupNorm) and 'forward' not in vars(mod):  # once per module
            forward = type(mod).forward
            mod.forward = types.MethodType(lambda self, x, f=forward: f(self, x.float()), mod)
    return m


class Autocast(torch.nn.Module):
    """A model run under bf16 autocast, returning float32 (energies and losses are taken in float32).
    Under autograd its backward runs in bf16 too, with float32 gradients on the float32 weights."""
    def __init__(self, m):
        super().__init__()
        self.m = autocast_ready(m)

    def forward(self, *a):
        with torch.autocast(DEVICE.split(':')[0], dtype=torch.bfloat16):
            return self.m(*a).float()


# ---- DDPM: a whole training step and sampling (twins of bench/rows.mjs) ----------------------
import diffusion as D  # noqa: E402


def ddpm_train_row(preset, batch, device='cpu', autocast=False, channels_last=False):
    """autocast: the model's forward (and so its backward) under bf16 autocast, the loss, Adam and
    the EMA in float32: the usual mixed-precision recipe."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def setup():
        m, cfg = randomized(preset)
        m.to(device, memory_format=fmt).train()
        x0 = torch.randn(batch, cfg['inChannels'], cfg['resolution'], cfg['resolution'], generator=g).clamp(-1, 1).to(device, memory_format=fmt)
        opt = torch.optim.Adam(m.parameters(), lr=2e-4)
        shadow = {k: v.detach().clone() for k, v in m.state_dict().items()}
        return m, Autocast(m) if autocast else m, x0, opt, shadow, D.Diffusion(D.betas()), torch.Generator().manual_seed(3)

    def step(state):
        m, fwd, x0, opt, shadow, d, gen = state
        loss, _ = d.loss(fwd, x0, gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for k, v in m.state_dict().items():
                shadow[k].lerp_(v, 1 - 0.9999)
        loss.item()
        sync()
    return setup, step


def ddpm_sample_step_row(preset, batch):
    def setup():
        m, cfg = randomized(preset)
        m.eval()
        x = torch.randn(batch, cfg['inChannels'], cfg['resolution'], cfg['resolution'], generator=g)
        return m, x, D.Diffusion(D.betas()), torch.full((batch,), 500, dtype=torch.long), torch.Generator().manual_seed(4)

    def step(state):
        m, x, d, t, gen = state
        with torch.no_grad():
            eps = m(x, t)
            d.ancestral_step(x, 500, eps, torch.randn(x.shape, generator=gen), True)
    return setup, step


def ddpm_loop_row(preset, batch):
    def setup():
        m, cfg = randomized(preset)
        m.eval()
        return m, cfg, D.Diffusion(D.betas())

    def step(state):
        m, cfg, d = state
        gen = torch.Generator().manual_seed(5)
        with torch.no_grad():
            x = torch.randn(batch, cfg['inChannels'], cfg['resolution'], cfg['resolution'], generator=gen)
            for t in range(d.T - 1, -1, -1):
                eps = m(x, torch.full((batch,), t, dtype=torch.long))
                x = d.ancestral_step(x, t, eps, torch.randn(x.shape, generator=gen) if t > 0 else None, True)
    return setup, step


ROWS['ddpm train step ddpmCifar10 b8'] = ddpm_train_row('ddpmCifar10', 8)
ROWS['ddpm train step ddpmTiny b64'] = ddpm_train_row('ddpmTiny', 64)
ROWS['ddpm train step ddpmCifar10 b8 bf16-autocast'] = ddpm_train_row('ddpmCifar10', 8, autocast=True)
ROWS['ddpm train step ddpmCifar10 b8 channels-last'] = ddpm_train_row('ddpmCifar10', 8, channels_last=True)
ROWS['ddpm train step ddpmCifar10 b8 bf16-autocast channels-last'] = ddpm_train_row('ddpmCifar10', 8, autocast=True, channels_last=True)
ROWS['ddpm sample step ddpmCifar10 b8'] = ddpm_sample_step_row('ddpmCifar10', 8)
ROWS['ddpm ancestral 1000 steps ddpmTiny b8'] = ddpm_loop_row('ddpmTiny', 8)

# ---- JEM: an SGLD step and a whole training step (twins of bench/rows.mjs) --------------------
import jem as J  # noqa: E402


def sgld_row(preset, batch, autocast=False):
    def setup():
        m, cfg = randomized(preset)
        m = Autocast(m) if autocast else m
        m.eval()
        x = torch.randn(batch, cfg['inChannels'], cfg['resolution'], cfg['resolution'], generator=g).clamp(-1, 1)
        return m, x, torch.Generator().manual_seed(6)

    def step(state):
        m, x, gen = state
        J.sgld(m, x, 1, 1.0, 0.01, gen)
    return setup, step


def jem_train_row(preset, batch, device='cpu', autocast=False):
    def setup():
        m, cfg = randomized(preset)
        m.to(device)
        c, r = cfg['inChannels'], cfg['resolution']
        mk = lambda: torch.randn(batch, c, r, r, generator=g).clamp(-1, 1).to(device)  # noqa: E731
        buf = torch.rand(2000, c, r, r, generator=torch.Generator().manual_seed(7)) * 2 - 1
        return m, mk(), mk(), torch.randint(0, 10, (batch,), generator=g).to(device), buf, torch.optim.Adam(m.parameters(), lr=1e-4), torch.Generator().manual_seed(8)

    def step(state):
        m, xd, xl, yl, buf, opt, gen = state
        x0, inds = J.buffer_sample(buf, batch, 0.05, gen)
        fwd = Autocast(m) if autocast else m  # autocast: the chains and the loss's forward/backward
        xq = J.sgld(fwd, x0.to(device), 20, 1.0, 0.01, gen)
        buf[inds] = xq.cpu()
        m.train()
        e = -fwd(torch.cat([xd, xq])).logsumexp(1)
        loss = F.cross_entropy(fwd(xl), yl) + (e[:batch].mean() - e[batch:].mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        sync()
    return setup, step


ROWS['jem sgld step wrn28-10 b8'] = sgld_row('wrn28-10', 8)
ROWS['jem sgld step wrn10-2 b64'] = sgld_row('wrn10-2', 64)
ROWS['jem train step wrn10-2 b64'] = jem_train_row('wrn10-2', 64)
ROWS['jem train step wrn28-10 b8'] = jem_train_row('wrn28-10', 8)
ROWS['jem sgld step wrn28-10 b8 bf16-autocast'] = sgld_row('wrn28-10', 8, autocast=True)
ROWS['jem train step wrn28-10 b8 bf16-autocast'] = jem_train_row('wrn28-10', 8, autocast=True)


# ---- Metrics: FID Inception-v3 feature extraction (uint8 28×28 grey → 299 RGB → pool3 + logits) ----
import inception as I  # noqa: E402


def fid_row(batch):
    def setup():
        net = randomize(I.build())
        return net.eval(), torch.randint(0, 256, (batch, 1, 28, 28), generator=g, dtype=torch.uint8).numpy()

    def step(state):
        net, x = state
        with torch.no_grad():
            I.features(net, x)
    return setup, step


ROWS['fid inception b8 features'] = fid_row(8)


# ---- Speed: ten ancestral steps of ddpmCifar10 (a T = 10 schedule), float32 and bf16 autocast ----
def sample_row(preset, batch, T, autocast, channels_last=False):
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def setup():
        m, cfg = randomized(preset)
        m.to(DEVICE, memory_format=fmt).eval()
        return (autocast_ready(m) if autocast else m), cfg, D.Diffusion(D.betas(T=T))

    def step(state):
        m, cfg, d = state
        gen = torch.Generator().manual_seed(5)
        with torch.no_grad(), torch.autocast(DEVICE.split(':')[0], dtype=torch.bfloat16, enabled=autocast):
            x = torch.randn(batch, cfg['inChannels'], cfg['resolution'], cfg['resolution'], generator=gen).to(DEVICE, memory_format=fmt)
            for t in range(d.T - 1, -1, -1):
                eps = m(x, torch.full((batch,), t, dtype=torch.long, device=DEVICE)).float()
                x = d.ancestral_step(x, t, eps, torch.randn(x.shape, generator=gen).to(DEVICE) if t > 0 else None, True)
        sync()
    return setup, step


for _b, _t in ((8, 10), (256, 100)):
    ROWS[f'sample {_t} ancestral steps ddpmCifar10 b{_b} fp32'] = sample_row('ddpmCifar10', _b, _t, False)
    ROWS[f'sample {_t} ancestral steps ddpmCifar10 b{_b} bf16-autocast'] = sample_row('ddpmCifar10', _b, _t, True)
    ROWS[f'sample {_t} ancestral steps ddpmCifar10 b{_b} fp32 channels-last'] = sample_row('ddpmCifar10', _b, _t, False, True)
    ROWS[f'sample {_t} ancestral steps ddpmCifar10 b{_b} bf16-autocast channels-last'] = sample_row('ddpmCifar10', _b, _t, True, True)
ROWS['ddpm train step ddpmCifar10 b128'] = ddpm_train_row('ddpmCifar10', 128, DEVICE)
ROWS['ddpm train step ddpmCifar10 b128 bf16-autocast'] = ddpm_train_row('ddpmCifar10', 128, DEVICE, autocast=True)
ROWS['jem train step wrn28-10 b64'] = jem_train_row('wrn28-10', 64, DEVICE)
ROWS['jem train step wrn28-10 b64 bf16-autocast'] = jem_train_row('wrn28-10', 64, DEVICE, autocast=True)


def run(name, iters, warmup, min_ms=0):
    setup, step = ROWS[name]
    state = setup()
    w0 = time.perf_counter()
    for _ in range(warmup):
        step(state)
    per = (time.perf_counter() - w0) * 1000 / max(warmup, 1)
    if warmup > 0:  # no warmup: no estimate of the step time
        iters = max(iters, min(10000, math.ceil(min_ms / max(per, 1e-3))))
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
        out = run(msg['row'], msg['iters'], msg['warmup'], msg.get('minMs', 0))
    except Exception as e:  # report, keep serving
        out = {'error': f'{type(e).__name__}: {e}'}
    sys.stdout.write(json.dumps(out) + '\n')
    sys.stdout.flush()

"""PyTorch reference implementations of langevin's models, written for the parity tests and
benchmarks: the DDPM U-Net (original release's structure and names) and JEM's Wide-ResNet (official
names). Usage:
  /usr/bin/python3 bench/ref/models.py parity IN.safetensors OUT.safetensors
IN holds `model.<name>` weights, `input.x`, optional `input.t`, `input.upstream` and metadata
{kind, config, training}; OUT gets `output`, `grad.input`, `grad.model.<name>` and, for batch norm,
the updated `buffer.<name>`.
"""
import json
import math
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import safetensors_io  # noqa: E402


def timestep_embedding(t, dim, max_period=10000.0):
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(max_period) / (half - 1)))
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, temb, dropout, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)
        self.has_shortcut = cin != cout

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.nin_shortcut(x) if self.has_shortcut else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c, groups, eps):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).permute(0, 2, 1)
        k = self.k(n).reshape(b, c, h * w)
        v = self.v(n).reshape(b, c, h * w).permute(0, 2, 1)
        # Softmax in float32 whatever the compute dtype (a no-op in float32).
        a = torch.softmax((torch.bmm(q, k) * (c ** -0.5)).float(), dim=-1).to(v.dtype)
        out = torch.bmm(a, v).permute(0, 2, 1).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, c, with_conv):
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(c, c, 3, stride=2)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1))) if self.with_conv else F.avg_pool2d(x, 2)


class Upsample(nn.Module):
    def __init__(self, c, with_conv):
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2.0, mode='nearest')
        return self.conv(x) if self.with_conv else x


class UNet(nn.Module):
    def __init__(self, inChannels=3, outChannels=3, resolution=32, channels=128, channelMult=(1, 2, 2, 2), numResBlocks=2,
                 attnResolutions=(16,), dropout=0.1, resampleWithConv=True, groups=32, eps=1e-6):
        super().__init__()
        ch, self.ch = channels, channels
        self.levels = len(channelMult)
        self.nres = numResBlocks
        self.temb = nn.Module()
        self.temb.dense = nn.ModuleList([nn.Linear(ch, 4 * ch), nn.Linear(4 * ch, 4 * ch)])
        self.conv_in = nn.Conv2d(inChannels, ch, 3, padding=1)
        in_mult = (1,) + tuple(channelMult)
        res = resolution
        self.down = nn.ModuleList()
        block_in = ch
        for l in range(self.levels):
            lvl = nn.Module()
            lvl.block, lvl.attn = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_mult[l], ch * channelMult[l]
            for _ in range(numResBlocks):
                lvl.block.append(ResnetBlock(block_in, block_out, 4 * ch, dropout, groups, eps))
                block_in = block_out
                if res in attnResolutions:
                    lvl.attn.append(AttnBlock(block_in, groups, eps))
            if l != self.levels - 1:
                lvl.downsample = Downsample(block_in, resampleWithConv)
                res //= 2
            self.down.append(lvl)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, 4 * ch, dropout, groups, eps)
        self.mid.attn_1 = AttnBlock(block_in, groups, eps)
        self.mid.block_2 = ResnetBlock(block_in, block_in, 4 * ch, dropout, groups, eps)
        self.up = nn.ModuleList()
        for l in reversed(range(self.levels)):
            lvl = nn.Module()
            lvl.block, lvl.attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * channelMult[l]
            skip_in = ch * channelMult[l]
            for b in range(numResBlocks + 1):
                if b == numResBlocks:
                    skip_in = ch * in_mult[l]
                lvl.block.append(ResnetBlock(block_in + skip_in, block_out, 4 * ch, dropout, groups, eps))
                block_in = block_out
                if res in attnResolutions:
                    lvl.attn.append(AttnBlock(block_in, groups, eps))
            if l != 0:
                lvl.upsample = Upsample(block_in, resampleWithConv)
                res *= 2
            self.up.insert(0, lvl)
        self.norm_out = nn.GroupNorm(groups, block_in, eps)
        self.conv_out = nn.Conv2d(block_in, outChannels, 3, padding=1)

    def forward(self, x, t):
        temb = self.temb.dense[1](F.silu(self.temb.dense[0](timestep_embedding(t, self.ch))))
        hs = [self.conv_in(x)]
        for l in range(self.levels):
            for b in range(self.nres):
                h = self.down[l].block[b](hs[-1], temb)
                if len(self.down[l].attn):
                    h = self.down[l].attn[b](h)
                hs.append(h)
            if l != self.levels - 1:
                hs.append(self.down[l].downsample(hs[-1]))
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(hs[-1], temb)), temb)
        for l in reversed(range(self.levels)):
            for b in range(self.nres + 1):
                h = self.up[l].block[b](torch.cat([h, hs.pop()], dim=1), temb)
                if len(self.up[l].attn):
                    h = self.up[l].attn[b](h)
            if l != 0:
                h = self.up[l].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


def make_norm(kind, c, groups):
    if kind == 'none':
        return nn.Identity()
    if kind == 'batch':
        return nn.BatchNorm2d(c, momentum=0.9)
    if kind == 'layer':
        return nn.GroupNorm(1, c)
    return nn.GroupNorm(groups, c)


class WideBasic(nn.Module):
    def __init__(self, cin, cout, dropout, stride, norm, groups, slope):
        super().__init__()
        self.slope = slope
        self.bn1 = make_norm(norm, cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.bn2 = make_norm(norm, cout, groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=stride, padding=1)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride))

    def forward(self, x):
        out = self.dropout(self.conv1(F.leaky_relu(self.bn1(x), self.slope)))
        out = self.conv2(F.leaky_relu(self.bn2(out), self.slope))
        return out + self.shortcut(x)


class WRNBody(nn.Module):
    def __init__(self, depth, widen, classes, inChannels, norm, groups, slope, dropout, officialHeads):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.slope = slope
        self.conv1 = nn.Conv2d(inChannels, 16, 3, padding=1)
        cin = 16
        for s in (1, 2, 3):
            blocks = []
            for b in range(n):
                blocks.append(WideBasic(cin, widths[s], dropout, 2 if (b == 0 and s > 1) else 1, norm, groups, slope))
                cin = widths[s]
            setattr(self, f'layer{s}', nn.Sequential(*blocks))
        self.bn1 = make_norm(norm, cin, groups)
        if officialHeads:
            self.linear = nn.Linear(cin, classes)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return F.leaky_relu(self.bn1(out), self.slope).mean((2, 3))


class WideResNet(nn.Module):
    def __init__(self, depth=28, widen=10, classes=10, dropout=0.0, norm='none', groups=32, inChannels=3, resolution=32, slope=0.2,
                 officialHeads=False):
        super().__init__()
        self.f = WRNBody(depth, widen, classes, inChannels, norm, groups, slope, dropout, officialHeads)
        if officialHeads:
            self.energy_output = nn.Linear(64 * widen, 1)
        self.class_output = nn.Linear(64 * widen, classes)

    def forward(self, x):
        return self.class_output(self.f(x))


def build(kind, config):
    return UNet(**config) if kind == 'unet' else WideResNet(**config)


def mixed_precision(model, dtype=torch.bfloat16):
    """langevin's computeDtype policy, written the PyTorch way: convolutions and linear layers run
    in `dtype` on their weights cast per call (differentiably, so gradients reach the float32
    parameters as float32, as under autocast), normalisation layers in float32 (inputs cast up),
    the output returned as float32."""
    def low(t):
        return None if t is None else t.to(dtype)

    def conv(self, x):
        return self._conv_forward(x.to(dtype), low(self.weight), low(self.bias))

    def linear(self, x):
        return F.linear(x.to(dtype), low(self.weight), low(self.bias))

    def norm(self, x, forward):
        return forward(self, x.float())

    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            mod.forward = types.MethodType(conv, mod)
        elif isinstance(mod, nn.Linear):
            mod.forward = types.MethodType(linear, mod)
        elif isinstance(mod, (nn.GroupNorm, nn.BatchNorm2d)):
            mod.forward = types.MethodType(lambda self, x, f=type(mod).forward: norm(self, x, f), mod)
    forward = model.forward
    model.forward = lambda *a: forward(*a).float()
    return model


def parity(src, dst):
    tensors, meta = safetensors_io.read(src)
    kind, config = meta['kind'], json.loads(meta['config'])
    training = meta.get('training') == 'true'
    torch.manual_seed(0)
    model = build(kind, config)
    sd = {k[len('model.'):]: v for k, v in tensors.items() if k.startswith('model.')}
    model.load_state_dict(sd, strict=True)
    model.train(training)
    if meta.get('computeDtype', 'float32') != 'float32':
        model = mixed_precision(model, getattr(torch, meta['computeDtype']))
    if meta.get('computeDtype', 'float32') != 'float32' and meta.get('grads') != 'true':
        with torch.no_grad():
            y = model(tensors['input.x'], tensors['input.t']) if kind == 'unet' else model(tensors['input.x'])
        safetensors_io.write(dst, {'output': y})
        return
    x = tensors['input.x'].clone().requires_grad_(True)
    y = model(x, tensors['input.t']) if kind == 'unet' else model(x)
    loss = (y * tensors['input.upstream']).sum()
    names = [n for n, _ in model.named_parameters()]
    grads = torch.autograd.grad(loss, [x] + [p for _, p in model.named_parameters()], allow_unused=True)
    out = {'output': y, 'grad.input': grads[0]}
    for n, g in zip(names, grads[1:]):
        if g is not None:  # unused heads (official checkpoints) get no gradient
            out['grad.model.' + n] = g
    for n, b in model.named_buffers():
        out['buffer.' + n] = b
    safetensors_io.write(dst, out)


def count(kind, config):
    return sum(p.numel() for p in build(kind, config).parameters())


if __name__ == '__main__':
    torch.set_num_threads(int(__import__('os').environ.get('REF_THREADS', '1')))
    if sys.argv[1] == 'parity':
        parity(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'count':
        print(count(sys.argv[2], json.loads(sys.argv[3])))

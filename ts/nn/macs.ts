// Multiply-accumulates per sample, counted over a model's block program: convolutions, linear
// layers and the two attention matmuls (q·kᵀ and attn·v), as the DDPM numbers are usually quoted.
import type { Tensor } from '../tensor/tensor.js';
import type { BlockSpec } from './program.js';
import type { UNet } from './unet.js';
import type { WideResNet } from './wideresnet.js';

interface Shape {
  c: number;
  h: number;
  w: number;
}

function conv(s: Shape, w: Tensor, stride: number, pads: number[]): { macs: number; out: Shape } {
  const [cout, cinPerGroup, kh, kw] = w.shape;
  const h = Math.floor((s.h + pads[0] + pads[1] - kh) / stride) + 1;
  const ww = Math.floor((s.w + pads[2] + pads[3] - kw) / stride) + 1;
  return { macs: cout * h * ww * cinPerGroup * kh * kw, out: { c: cout, h, w: ww } };
}

function linear(w: Tensor | undefined): number {
  return w ? w.shape[0] * w.shape[1] : 0;
}

export function programMacs(blocks: BlockSpec[], input: Shape): number {
  let s = input;
  let total = 0;
  const skips: Shape[] = [];
  for (const b of blocks) {
    const p = b.params;
    if (b.pop) s = { ...s, c: s.c + skips.pop()!.c };
    switch (b.kind) {
      case 'temb':
        total += linear(p[0]) + linear(p[2]);
        break;
      case 'conv': {
        const r = conv(s, p[0]!, b.ints[0], b.ints.slice(1));
        total += r.macs;
        s = r.out;
        break;
      }
      case 'resblock': {
        const c1 = conv(s, p[2]!, 1, [1, 1, 1, 1]);
        const c2 = conv(c1.out, p[8]!, 1, [1, 1, 1, 1]);
        total += c1.macs + linear(p[4]) + c2.macs + (p[10] ? conv(s, p[10], 1, [0, 0, 0, 0]).macs : 0);
        s = c2.out;
        break;
      }
      case 'attn': {
        const n = s.h * s.w;
        total += 4 * n * s.c * s.c + 2 * n * n * s.c;
        break;
      }
      case 'downsample':
        if (p[0]) {
          const r = conv(s, p[0], 2, [0, 1, 0, 1]);
          total += r.macs;
          s = r.out;
        } else s = { c: s.c, h: Math.floor(s.h / 2), w: Math.floor(s.w / 2) };
        break;
      case 'upsample':
        s = { c: s.c, h: s.h * 2, w: s.w * 2 };
        if (p[0]) total += conv(s, p[0], 1, [1, 1, 1, 1]).macs;
        break;
      case 'wrnblock': {
        const c1 = conv(s, p[4]!, 1, [1, 1, 1, 1]);
        const c2 = conv(c1.out, p[10]!, b.ints[2], [1, 1, 1, 1]);
        total += c1.macs + c2.macs + (p[12] ? conv(s, p[12], b.ints[2], [0, 0, 0, 0]).macs : 0);
        s = c2.out;
        break;
      }
      case 'pool':
        s = { c: s.c, h: 1, w: 1 };
        break;
      case 'linear':
        total += linear(p[0]);
        s = { c: p[0]!.shape[0], h: 1, w: 1 };
        break;
      case 'normact':
        break;
    }
    if (b.push) skips.push(s);
  }
  return total;
}

/** MACs of one forward for one sample at the model's configured resolution. */
export function macsPerSample(model: UNet | WideResNet): number {
  const { inChannels: c, resolution: r } = model.config;
  return programMacs(model.blocks(), { c, h: r, w: r });
}

// The papers' blocks: DDPM's timestep embedding, time-conditioned ResBlock, AttnBlock, Down/Upsample
// (names as the original release's PyTorch port), and JEM's pre-activation Wide-ResNet block (names
// as the official code). Each has a TypeScript forward (the eager path) and a block spec for the
// native program; both compute the same ops in the same order.
import { cat } from '../tensor/creation.js';
import type { Generator } from '../tensor/generator.js';
import type { Tensor } from '../tensor/tensor.js';
import * as F from './functional.js';
import { BatchNorm2d, Conv2d, Dropout, GroupNorm, Identity, Linear, Sequential, type Init } from './layers.js';
import { Module } from './module.js';
import type { BlockSpec } from './program.js';

/** Children named 0, 1, … without a forward (PyTorch's nn.ModuleList naming). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items.map((m, i) => this.child(String(i), m));
  }
  forward(): Tensor {
    throw new TypeError('ModuleList has no forward; call its items');
  }
}

const DDPM_INIT: Init = { fanAvg: 1 };
const DDPM_ZERO_INIT: Init = { fanAvg: 1e-10 };

/** ch-d sinusoidal embedding → dense.0 (ch→4ch) → swish → dense.1 (4ch→4ch). */
export class TimestepEmbedding extends Module {
  readonly dense: ModuleList<Linear>;
  constructor(
    readonly channels: number,
    generator?: Generator,
    readonly maxPeriod = 10000,
  ) {
    super();
    this.dense = this.child('dense', new ModuleList([
      new Linear({ inFeatures: channels, outFeatures: 4 * channels, init: DDPM_INIT, generator }),
      new Linear({ inFeatures: 4 * channels, outFeatures: 4 * channels, init: DDPM_INIT, generator }),
    ]));
  }
  forward(t: Tensor): Tensor {
    const e = F.timestepEmbedding(t, this.channels, this.maxPeriod);
    return this.dense.items[1].forward(F.silu(this.dense.items[0].forward(e)));
  }
  spec(): BlockSpec {
    const [d0, d1] = this.dense.items;
    return { kind: 'temb', params: [d0.weight, d0.bias, d1.weight, d1.bias], ints: [this.channels], floats: [this.maxPeriod] };
  }
}

export interface ResBlockConfig {
  inChannels: number;
  outChannels: number;
  /** Width of the time embedding (4·ch); 0 = not time-conditioned. */
  tembChannels: number;
  dropout: number;
  groups: number;
  eps: number;
  generator?: Generator;
}

/** h = conv1(swish(GN(x))) + Dense(swish(temb)); h = conv2(dropout(swish(GN(h)))); out = nin(x) + h. */
export class ResBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly temb_proj: Linear | undefined;
  readonly norm2: GroupNorm;
  readonly dropout: Dropout;
  readonly conv2: Conv2d;
  readonly nin_shortcut: Conv2d | undefined;
  constructor(readonly config: ResBlockConfig) {
    super();
    const { inChannels: cin, outChannels: cout, groups, eps, generator } = config;
    this.norm1 = this.child('norm1', new GroupNorm(groups, cin, eps));
    this.conv1 = this.child('conv1', new Conv2d({ inChannels: cin, outChannels: cout, kernel: 3, padding: 1, init: DDPM_INIT, generator }));
    this.temb_proj = config.tembChannels > 0 ? this.child('temb_proj', new Linear({ inFeatures: config.tembChannels, outFeatures: cout, init: DDPM_INIT, generator })) : undefined;
    this.norm2 = this.child('norm2', new GroupNorm(groups, cout, eps));
    this.dropout = this.child('dropout', new Dropout(config.dropout, generator));
    this.conv2 = this.child('conv2', new Conv2d({ inChannels: cout, outChannels: cout, kernel: 3, padding: 1, init: DDPM_ZERO_INIT, generator }));
    this.nin_shortcut = cin !== cout ? this.child('nin_shortcut', new Conv2d({ inChannels: cin, outChannels: cout, kernel: 1, init: DDPM_INIT, generator })) : undefined;
  }
  forward(x: Tensor, temb?: Tensor): Tensor {
    let h = this.conv1.forward(F.silu(this.norm1.forward(x)));
    if (this.temb_proj) {
      if (!temb) throw new RangeError('ResBlock: this block is time-conditioned; pass temb');
      h = h.add(this.temb_proj.forward(F.silu(temb)).unsqueeze(-1).unsqueeze(-1));
    }
    h = this.conv2.forward(F.dropout(F.silu(this.norm2.forward(h)), this.config.dropout, { training: this.training, generator: this.dropout.generator }));
    const skip = this.nin_shortcut ? this.nin_shortcut.forward(x) : x;
    return skip.add(h);
  }
  spec(): BlockSpec {
    const n = this.nin_shortcut;
    return {
      kind: 'resblock',
      params: [this.norm1.weight, this.norm1.bias, this.conv1.weight, this.conv1.bias, this.temb_proj?.weight, this.temb_proj?.bias, this.norm2.weight, this.norm2.bias, this.conv2.weight, this.conv2.bias, n?.weight, n?.bias],
      ints: [this.config.groups, n ? 1 : 0, this.temb_proj ? 1 : 0],
      floats: [this.config.eps, this.config.dropout],
    };
  }
}

/** Single-head self-attention over positions: x + proj_out(softmax(q kᵀ/√C) v), q/k/v 1×1 convs of GN(x). */
export class AttnBlock extends Module {
  readonly norm: GroupNorm;
  readonly q: Conv2d;
  readonly k: Conv2d;
  readonly v: Conv2d;
  readonly proj_out: Conv2d;
  constructor(
    readonly channels: number,
    readonly groups: number,
    readonly eps: number,
    generator?: Generator,
  ) {
    super();
    const c = channels;
    this.norm = this.child('norm', new GroupNorm(groups, c, eps));
    this.q = this.child('q', new Conv2d({ inChannels: c, outChannels: c, kernel: 1, init: DDPM_INIT, generator }));
    this.k = this.child('k', new Conv2d({ inChannels: c, outChannels: c, kernel: 1, init: DDPM_INIT, generator }));
    this.v = this.child('v', new Conv2d({ inChannels: c, outChannels: c, kernel: 1, init: DDPM_INIT, generator }));
    this.proj_out = this.child('proj_out', new Conv2d({ inChannels: c, outChannels: c, kernel: 1, init: DDPM_ZERO_INIT, generator }));
  }
  forward(x: Tensor): Tensor {
    const [b, c, hh, ww] = x.shape;
    const n = this.norm.forward(x);
    const tokens = (y: Tensor) => y.reshape(b, c, hh * ww).transpose(1, 2);
    const a = F.scaledDotProductAttention(tokens(this.q.forward(n)), tokens(this.k.forward(n)), tokens(this.v.forward(n)), { scale: 1 / Math.sqrt(c) });
    return x.add(this.proj_out.forward(a.transpose(1, 2).reshape(b, c, hh, ww)));
  }
  spec(): BlockSpec {
    const ps = [this.norm.weight, this.norm.bias];
    for (const m of [this.q, this.k, this.v, this.proj_out]) ps.push(m.weight, m.bias!);
    return { kind: 'attn', params: ps, ints: [this.groups], floats: [this.eps] };
  }
}

/** conv 3×3 stride 2 with the original's (0,1,0,1) padding, or 2×2 average pooling. */
export class Downsample extends Module {
  readonly conv: Conv2d | undefined;
  constructor(channels: number, withConv: boolean, generator?: Generator) {
    super();
    this.conv = withConv ? this.child('conv', new Conv2d({ inChannels: channels, outChannels: channels, kernel: 3, stride: 2, padding: [0, 1, 0, 1], init: DDPM_INIT, generator })) : undefined;
  }
  forward(x: Tensor): Tensor {
    return this.conv ? this.conv.forward(x) : F.avgPool2d(x, 2);
  }
  spec(): BlockSpec {
    return { kind: 'downsample', params: [this.conv?.weight, this.conv?.bias], ints: [this.conv ? 1 : 0], floats: [] };
  }
}

/** nearest ×2, then conv 3×3 (optional). */
export class Upsample extends Module {
  readonly conv: Conv2d | undefined;
  constructor(channels: number, withConv: boolean, generator?: Generator) {
    super();
    this.conv = withConv ? this.child('conv', new Conv2d({ inChannels: channels, outChannels: channels, kernel: 3, padding: 1, init: DDPM_INIT, generator })) : undefined;
  }
  forward(x: Tensor): Tensor {
    const up = F.upsampleNearest(x, 2);
    return this.conv ? this.conv.forward(up) : up;
  }
  spec(): BlockSpec {
    return { kind: 'upsample', params: [this.conv?.weight, this.conv?.bias], ints: [this.conv ? 1 : 0], floats: [] };
  }
}

/** Concatenates a skip along channels (the U-Net's up path). */
export function concatSkip(h: Tensor, skip: Tensor): Tensor {
  return cat([h, skip], 1);
}

// ---- Wide-ResNet (JEM) -------------------------------------------------------------------

export type NormKind = 'none' | 'batch' | 'layer' | 'group';

/** The official JEM norms: none (identity), batch (BatchNorm2d, momentum 0.9), layer (GroupNorm(1, C)), group. */
export function makeNorm(kind: NormKind, channels: number, groups: number): Module {
  switch (kind) {
    case 'none':
      return new Identity();
    case 'batch':
      return new BatchNorm2d(channels, 0.9);
    case 'layer':
      return new GroupNorm(1, channels);
    case 'group':
      return new GroupNorm(groups, channels);
  }
}

/** A norm's program slots [weight, bias, runningMean, runningVar], kind code, groups, eps, momentum. */
export function normSlots(m: Module): { params: (Tensor | undefined)[]; mutated: number[]; kind: number; groups: number; eps: number; momentum: number } {
  if (m instanceof BatchNorm2d) {
    const t = m.tensors();
    return { params: [t.weight, t.bias, t.runningMean, t.runningVar], mutated: [2, 3], kind: 1, groups: 1, eps: m.eps, momentum: m.momentum };
  }
  if (m instanceof GroupNorm) return { params: [m.weight, m.bias, undefined, undefined], mutated: [], kind: 2, groups: m.groups, eps: m.eps, momentum: 0 };
  return { params: [undefined, undefined, undefined, undefined], mutated: [], kind: 0, groups: 1, eps: 0, momentum: 0 };
}

export interface WrnBlockConfig {
  inChannels: number;
  outChannels: number;
  stride: number;
  dropout: number;
  norm: NormKind;
  groups: number;
  slope: number;
  generator?: Generator;
}

/** Pre-activation: out = conv2_s(lrelu(bn2(dropout(conv1(lrelu(bn1(x))))))) + shortcut(x). */
export class WrnBlock extends Module {
  readonly bn1: Module;
  readonly conv1: Conv2d;
  readonly dropout: Dropout;
  readonly bn2: Module;
  readonly conv2: Conv2d;
  readonly shortcut: Sequential;
  constructor(readonly config: WrnBlockConfig) {
    super();
    const { inChannels: cin, outChannels: cout, stride, generator } = config;
    this.bn1 = this.child('bn1', makeNorm(config.norm, cin, config.groups));
    this.conv1 = this.child('conv1', new Conv2d({ inChannels: cin, outChannels: cout, kernel: 3, padding: 1, generator }));
    this.dropout = this.child('dropout', new Dropout(config.dropout, generator));
    this.bn2 = this.child('bn2', makeNorm(config.norm, cout, config.groups));
    this.conv2 = this.child('conv2', new Conv2d({ inChannels: cout, outChannels: cout, kernel: 3, stride, padding: 1, generator }));
    const needs = stride !== 1 || cin !== cout;
    this.shortcut = this.child('shortcut', needs ? new Sequential(new Conv2d({ inChannels: cin, outChannels: cout, kernel: 1, stride, generator })) : new Sequential());
  }
  forward(x: Tensor): Tensor {
    const s = this.config.slope;
    let out = F.dropout(this.conv1.forward(F.leakyRelu(this.bn1.forward(x), s)), this.config.dropout, { training: this.training, generator: this.dropout.generator });
    out = this.conv2.forward(F.leakyRelu(this.bn2.forward(out), s));
    return out.add(this.shortcut.layers.length ? this.shortcut.forward(x) : x);
  }
  spec(): BlockSpec {
    const n1 = normSlots(this.bn1);
    const n2 = normSlots(this.bn2);
    const sc = this.shortcut.layers[0] as Conv2d | undefined;
    return {
      kind: 'wrnblock',
      params: [...n1.params, this.conv1.weight, this.conv1.bias, ...n2.params, this.conv2.weight, this.conv2.bias, sc?.weight, sc?.bias],
      mutated: [...n1.mutated, ...n2.mutated.map((i) => i + 6)],
      ints: [n1.kind, n1.groups, this.config.stride, sc ? 1 : 0],
      floats: [n1.eps, n1.momentum, this.config.dropout, this.config.slope],
    };
  }
}

// Basic layers: Conv2d, Linear, GroupNorm, BatchNorm2d, Dropout, Sequential, Identity.
import { full, ones, zeros } from '../tensor/creation.js';
import type { Generator } from '../tensor/generator.js';
import type { Tensor } from '../tensor/tensor.js';
import * as F from './functional.js';
import { torchDefault, varianceScalingFanAvg } from './init.js';
import { Module } from './module.js';

/** How weights start: PyTorch's default, or TF's fan-avg variance scaling with a scale (DDPM). */
export type Init = 'torch' | { fanAvg: number };

function initWeight(w: Tensor, b: Tensor | undefined, init: Init, generator?: Generator): void {
  if (init === 'torch') torchDefault(w, b, generator);
  else varianceScalingFanAvg(w, init.fanAvg, generator); // biases stay 0, as the original
}

function requirePositiveInt(v: number, what: string): void {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${what} must be a positive integer, got ${v}`);
}

export interface Conv2dConfig {
  inChannels: number;
  outChannels: number;
  /** Square kernel size. */
  kernel: number;
  /** Default 1. */
  stride?: number;
  /** n, or [top, bottom, left, right]. Default 0. */
  padding?: number | [number, number, number, number];
  /** Default true. */
  bias?: boolean;
  /** Default 'torch'. */
  init?: Init;
  generator?: Generator;
}

export class Conv2d extends Module {
  readonly config: Required<Omit<Conv2dConfig, 'generator' | 'init'>>;
  constructor(c: Conv2dConfig) {
    super();
    requirePositiveInt(c.inChannels, 'Conv2d inChannels');
    requirePositiveInt(c.outChannels, 'Conv2d outChannels');
    requirePositiveInt(c.kernel, 'Conv2d kernel');
    this.config = { inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride ?? 1, padding: c.padding ?? 0, bias: c.bias ?? true };
    const w = this.param('weight', zeros([c.outChannels, c.inChannels, c.kernel, c.kernel]));
    const b = this.param('bias', this.config.bias ? zeros([c.outChannels]) : undefined);
    initWeight(w, b, c.init ?? 'torch', c.generator);
  }
  // Getters, not fields: Module.to() replaces the tensors.
  get weight(): Tensor {
    return this.own('weight')!;
  }
  get bias(): Tensor | undefined {
    return this.own('bias');
  }
  /** Padding as [top, bottom, left, right]. */
  get pads(): [number, number, number, number] {
    const p = this.config.padding;
    return typeof p === 'number' ? [p, p, p, p] : p;
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.own('weight')!, this.own('bias'), { stride: this.config.stride, padding: this.pads });
  }
}

export interface LinearConfig {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
  init?: Init;
  generator?: Generator;
}

export class Linear extends Module {
  readonly config: Required<Omit<LinearConfig, 'generator' | 'init'>>;
  constructor(c: LinearConfig) {
    super();
    requirePositiveInt(c.inFeatures, 'Linear inFeatures');
    requirePositiveInt(c.outFeatures, 'Linear outFeatures');
    this.config = { inFeatures: c.inFeatures, outFeatures: c.outFeatures, bias: c.bias ?? true };
    const w = this.param('weight', zeros([c.outFeatures, c.inFeatures]));
    const b = this.param('bias', this.config.bias ? zeros([c.outFeatures]) : undefined);
    initWeight(w, b, c.init ?? 'torch', c.generator);
  }
  get weight(): Tensor {
    return this.own('weight')!;
  }
  get bias(): Tensor | undefined {
    return this.own('bias');
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export class GroupNorm extends Module {
  constructor(
    readonly groups: number,
    readonly channels: number,
    readonly eps = 1e-5,
  ) {
    super();
    requirePositiveInt(groups, 'GroupNorm groups');
    if (channels % groups !== 0) throw new RangeError(`GroupNorm: ${channels} channels cannot be split into ${groups} groups`);
    this.param('weight', ones([channels]));
    this.param('bias', zeros([channels]));
  }
  get weight(): Tensor {
    return this.own('weight')!;
  }
  get bias(): Tensor {
    return this.own('bias')!;
  }
  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.groups, this.weight, this.bias, this.eps);
  }
}

export class BatchNorm2d extends Module {
  /** momentum in PyTorch's convention: running = (1 − m)·running + m·batch. */
  constructor(
    readonly channels: number,
    readonly momentum = 0.1,
    readonly eps = 1e-5,
  ) {
    super();
    requirePositiveInt(channels, 'BatchNorm2d channels');
    this.param('weight', ones([channels]));
    this.param('bias', zeros([channels]));
    this.buffer('running_mean', zeros([channels]));
    this.buffer('running_var', ones([channels]));
    this.buffer('num_batches_tracked', full([], 0, { dtype: 'int64' }));
  }
  tensors(): { weight: Tensor; bias: Tensor; runningMean: Tensor; runningVar: Tensor } {
    return { weight: this.own('weight')!, bias: this.own('bias')!, runningMean: this.own('running_mean')!, runningVar: this.own('running_var')! };
  }
  forward(x: Tensor): Tensor {
    const t = this.tensors();
    if (this.training) this.own('num_batches_tracked')!.add_(1);
    return F.batchNorm(x, { ...t, training: this.training, momentum: this.momentum, eps: this.eps });
  }
}

export class Dropout extends Module {
  constructor(
    readonly p: number,
    readonly generator?: Generator,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, { training: this.training, generator: this.generator });
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Children named 0, 1, 2, … applied in order (PyTorch's nn.Sequential naming). */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.child(String(i), m));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const m of this.layers) {
      const next = m.forward(h);
      h = next;
    }
    return h;
  }
}

// JEM's Wide-ResNet classifier (official wideresnet.py / train_wrn_ebm.py names: `f.*`, `class_output`).
import type { Generator } from '../tensor/generator.js';
import type { Tensor } from '../tensor/tensor.js';
import * as F from './functional.js';
import { WrnBlock, makeNorm, normSlots, type NormKind } from './blocks.js';
import { BatchNorm2d, Conv2d, Linear, Sequential } from './layers.js';
import { Module } from './module.js';
import { Program, type BlockSpec, type Compilable, type ForwardOptions, type InferenceOptions } from './program.js';
import { convSpec } from './unet.js';

export interface WideResNetConfig {
  /** 6n+4. Default 28. */
  depth?: number;
  /** Width factor k. Default 10. */
  widen?: number;
  /** Number of classes. Default 10. */
  classes?: number;
  /** Dropout inside blocks. Default 0. */
  dropout?: number;
  /** Default 'none' (JEM's default: identity). */
  norm?: NormKind;
  /** Groups for norm 'group'. Default 32... clipped to divide every width. */
  groups?: number;
  /** Input channels. Default 3. */
  inChannels?: number;
  /** Input side in pixels (global average pooling works at any size, e.g. 28 or 32). Default 32. */
  resolution?: number;
  /** LeakyReLU slope. Default 0.2. */
  slope?: number;
  /** Also create the official checkpoint's two unused heads (`f.linear`, `energy_output`) so official state dicts load strictly. */
  officialHeads?: boolean;
  generator?: Generator;
}

export type ResolvedWideResNetConfig = Required<Omit<WideResNetConfig, 'generator'>>;

function resolve(c: WideResNetConfig): ResolvedWideResNetConfig {
  const r: ResolvedWideResNetConfig = {
    depth: c.depth ?? 28, widen: c.widen ?? 10, classes: c.classes ?? 10, dropout: c.dropout ?? 0, norm: c.norm ?? 'none',
    groups: c.groups ?? 32, inChannels: c.inChannels ?? 3, resolution: c.resolution ?? 32, slope: c.slope ?? 0.2, officialHeads: c.officialHeads ?? false,
  };
  const bad = (m: string) => new RangeError(`wideResNet: ${m}`);
  if (!Number.isInteger(r.depth) || r.depth < 10 || (r.depth - 4) % 6 !== 0) throw bad(`depth must be 6n+4 (10, 16, 22, 28, …), got ${r.depth}`);
  for (const k of ['widen', 'classes', 'inChannels', 'resolution', 'groups'] as const)
    if (!Number.isInteger(r[k]) || r[k] <= 0) throw bad(`${k} must be a positive integer, got ${r[k]}`);
  if (!['none', 'batch', 'layer', 'group'].includes(r.norm)) throw bad(`norm must be 'none', 'batch', 'layer' or 'group', got '${r.norm}'`);
  if (r.resolution < 4) throw bad(`resolution must be at least 4 (two stride-2 stages), got ${r.resolution}`);
  if (!(r.dropout >= 0 && r.dropout < 1)) throw bad(`dropout must be in [0, 1), got ${r.dropout}`);
  if (r.norm === 'group') for (const w of [16, 16 * r.widen, 32 * r.widen, 64 * r.widen]) if (w % r.groups !== 0) throw bad(`width ${w} is not divisible by groups ${r.groups}`);
  return r;
}

class Body extends Module {
  readonly conv1: Conv2d;
  readonly layers: Sequential[];
  readonly bn1: Module;
  readonly linear: Linear | undefined;
  constructor(c: ResolvedWideResNetConfig, g?: Generator) {
    super();
    const n = (c.depth - 4) / 6;
    const widths = [16, 16 * c.widen, 32 * c.widen, 64 * c.widen];
    this.conv1 = this.child('conv1', new Conv2d({ inChannels: c.inChannels, outChannels: 16, kernel: 3, padding: 1, generator: g }));
    let cin = 16;
    this.layers = [1, 2, 3].map((s) => {
      const blocks: WrnBlock[] = [];
      for (let b = 0; b < n; b++) {
        blocks.push(new WrnBlock({ inChannels: cin, outChannels: widths[s], stride: b === 0 && s > 1 ? 2 : 1, dropout: c.dropout, norm: c.norm, groups: c.groups, slope: c.slope, generator: g }));
        cin = widths[s];
      }
      return this.child(`layer${s}`, new Sequential(...blocks));
    });
    this.bn1 = this.child('bn1', makeNorm(c.norm, cin, c.groups));
    this.linear = c.officialHeads ? this.child('linear', new Linear({ inFeatures: cin, outFeatures: c.classes, generator: g })) : undefined;
  }
  forward(): Tensor {
    throw new TypeError('the body is driven by WideResNet');
  }
}

/** Logits f(x) [N, classes]; JEM's energy is −logsumexp(f(x)). One native call per forward. */
export class WideResNet extends Module implements Compilable {
  readonly config: ResolvedWideResNetConfig;
  readonly f: Body;
  readonly energy_output: Linear | undefined;
  readonly class_output: Linear;
  readonly generator: Generator | undefined;
  readonly #program = new Program(this);
  // The same blocks without the classifier head: penultimate features (FD-FMNIST, KID).
  readonly #featureProgram = ((m: WideResNet) => new Program({ blocks: () => m.blocks().slice(0, -1), get version() { return m.version; } }))(this);

  constructor(config: WideResNetConfig = {}) {
    super();
    const c = (this.config = resolve(config));
    const g = (this.generator = config.generator);
    this.f = this.child('f', new Body(c, g));
    const feat = 64 * c.widen;
    this.energy_output = c.officialHeads ? this.child('energy_output', new Linear({ inFeatures: feat, outFeatures: 1, generator: g })) : undefined;
    this.class_output = this.child('class_output', new Linear({ inFeatures: feat, outFeatures: c.classes, generator: g }));
  }

  #check(x: Tensor): void {
    const { inChannels: cin, resolution: r } = this.config;
    if (x.ndim !== 4 || x.shape[1] !== cin || x.shape[2] !== r || x.shape[3] !== r)
      throw new RangeError(`wideResNet: expected input [N, ${cin}, ${r}, ${r}], got [${x.shape.join(', ')}]`);
  }

  /** The compiled block program (for native jobs such as the training step). */
  get program(): Program {
    return this.#program;
  }

  /** Frees the parameters and the programs' native caches (bf16 weight copies). */
  override dispose(): void {
    this.#program.release();
    this.#featureProgram.release();
    super.dispose();
  }

  /** Advances batch-norm num_batches_tracked as a training forward does (native jobs call it). */
  countBatchNorm(): void {
    this.#countBatchNorm();
  }

  #countBatchNorm(): void {
    // The native program updates running stats; keep num_batches_tracked in step as PyTorch does.
    if (!this.training || this.config.norm !== 'batch') return;
    const visit = (m: Module) => {
      if (m instanceof BatchNorm2d) (m.stateDict().get('num_batches_tracked') as Tensor).add_(1);
      for (const [, c] of m.namedChildren()) visit(c);
    };
    visit(this);
  }

  /** Logits, one native call; `computeDtype` 'bfloat16' = mixed precision (see ForwardOptions). */
  forward(x: Tensor, opts: ForwardOptions = {}): Tensor {
    this.#check(x);
    this.#countBatchNorm();
    return this.#program.forward(x, undefined, this.training, this.generator, opts);
  }

  /** Logits computed on a worker thread (inference: eval-mode semantics, no autograd). */
  async forwardAsync(x: Tensor, opts: InferenceOptions = {}): Promise<Tensor> {
    this.#check(x);
    return this.#program.forwardAsync(x, undefined, this.generator, opts);
  }

  /**
   * Penultimate features [N, C]: the globally pooled activations the classifier head reads (the
   * feature space of FD-FMNIST and KID). Same semantics as `forward`, without the head.
   */
  features(x: Tensor, opts: ForwardOptions = {}): Tensor {
    this.#check(x);
    this.#countBatchNorm();
    return this.#featureProgram.forward(x, undefined, this.training, this.generator, opts);
  }

  /** `features` on a worker thread (inference semantics, no autograd). */
  async featuresAsync(x: Tensor, opts: InferenceOptions = {}): Promise<Tensor> {
    this.#check(x);
    return this.#featureProgram.forwardAsync(x, undefined, this.generator, opts);
  }

  /** The same forward in TypeScript, layer by layer. */
  forwardEager(x: Tensor): Tensor {
    this.#check(x);
    let h = this.f.conv1.forward(x);
    for (const layer of this.f.layers) h = layer.forward(h);
    h = F.leakyRelu(this.f.bn1.forward(h), this.config.slope).mean([2, 3]);
    return this.class_output.forward(h);
  }

  override describe(): Record<string, string> {
    return { 'langevin.kind': 'wrn', 'langevin.config': JSON.stringify(this.config) };
  }

  blocks(): BlockSpec[] {
    const out: BlockSpec[] = [convSpec(this.f.conv1)];
    for (const layer of this.f.layers) for (const b of layer.layers) out.push((b as WrnBlock).spec());
    const n = normSlots(this.f.bn1);
    out.push({ kind: 'normact', params: n.params, mutated: n.mutated, ints: [n.kind, n.groups, 2], floats: [n.eps, n.momentum, this.config.slope] });
    out.push({ kind: 'pool', params: [], ints: [], floats: [] });
    out.push({ kind: 'linear', params: [this.class_output.weight, this.class_output.bias], ints: [], floats: [] });
    return out;
  }
}

// The DDPM U-Net (Ho et al. 2020), exactly as the original release, with its PyTorch port's names.
import type { Generator } from '../tensor/generator.js';
import type { Tensor } from '../tensor/tensor.js';
import * as F from './functional.js';
import { AttnBlock, Downsample, ModuleList, ResBlock, TimestepEmbedding, Upsample, concatSkip } from './blocks.js';
import { Conv2d, GroupNorm } from './layers.js';
import { Module, type StateDict } from './module.js';
import { fromDiffusers, isDiffusersLayout } from './diffusers.js';
import { Program, type BlockSpec, type Compilable, type ForwardOptions, type InferenceOptions } from './program.js';

export interface UNetConfig {
  /** Image channels in. Default 3. */
  inChannels?: number;
  /** Channels out (2× inChannels for a learned variance). Default inChannels. */
  outChannels?: number;
  /** Input side in pixels; must be divisible by 2^(levels−1). Default 32. */
  resolution?: number;
  /** Base width `ch`. Default 128. */
  channels?: number;
  /** Width multiplier per level. Default [1, 2, 2, 2]. */
  channelMult?: number[];
  /** ResBlocks per level on the way down (one more on the way up). Default 2. */
  numResBlocks?: number;
  /** Resolutions (in pixels) that get self-attention after each ResBlock. Default [16]. */
  attnResolutions?: number[];
  /** Dropout in ResBlocks. Default 0.1. */
  dropout?: number;
  /** Down/upsample with a conv (true) or by pooling/plain nearest (false). Default true. */
  resampleWithConv?: boolean;
  /** GroupNorm groups. Default 32. */
  groups?: number;
  /** GroupNorm eps. Default 1e-6 (the original's). */
  eps?: number;
  /** Seeds the initialisation (and dropout masks). */
  generator?: Generator;
}

export type ResolvedUNetConfig = Required<Omit<UNetConfig, 'generator'>>;

function resolve(c: UNetConfig): ResolvedUNetConfig {
  const inChannels = c.inChannels ?? 3;
  const r: ResolvedUNetConfig = {
    inChannels,
    outChannels: c.outChannels ?? inChannels,
    resolution: c.resolution ?? 32,
    channels: c.channels ?? 128,
    channelMult: c.channelMult ?? [1, 2, 2, 2],
    numResBlocks: c.numResBlocks ?? 2,
    attnResolutions: c.attnResolutions ?? [16],
    dropout: c.dropout ?? 0.1,
    resampleWithConv: c.resampleWithConv ?? true,
    groups: c.groups ?? 32,
    eps: c.eps ?? 1e-6,
  };
  const bad = (msg: string) => new RangeError(`unet: ${msg}`);
  for (const k of ['inChannels', 'outChannels', 'resolution', 'channels', 'numResBlocks', 'groups'] as const)
    if (!Number.isInteger(r[k]) || r[k] <= 0) throw bad(`${k} must be a positive integer, got ${r[k]}`);
  if (!Array.isArray(r.channelMult) || r.channelMult.length === 0 || r.channelMult.some((m) => !Number.isInteger(m) || m <= 0))
    throw bad(`channelMult must be a non-empty list of positive integers, got ${JSON.stringify(r.channelMult)}`);
  const levels = r.channelMult.length;
  if (r.resolution % 2 ** (levels - 1) !== 0)
    throw bad(`resolution ${r.resolution} is not divisible by 2^(levels−1) = ${2 ** (levels - 1)} (channelMult has ${levels} levels)`);
  const reached = Array.from({ length: levels }, (_, l) => r.resolution / 2 ** l);
  const never = r.attnResolutions.filter((a) => !reached.includes(a));
  if (never.length) throw bad(`attnResolutions ${JSON.stringify(never)} are never reached (the model runs at ${reached.join(', ')} px)`);
  for (const m of r.channelMult)
    if ((r.channels * m) % r.groups !== 0) throw bad(`width ${r.channels * m} (channels ${r.channels} × ${m}) is not divisible by groups ${r.groups}`);
  if (r.channels % r.groups !== 0) throw bad(`channels ${r.channels} is not divisible by groups ${r.groups}`);
  if (!(r.dropout >= 0 && r.dropout < 1)) throw bad(`dropout must be in [0, 1), got ${r.dropout}`);
  if (!(r.eps > 0)) throw bad(`eps must be > 0, got ${r.eps}`);
  return r;
}

class Level extends Module {
  readonly block: ModuleList<ResBlock>;
  readonly attn: ModuleList<AttnBlock>;
  readonly resample: Downsample | Upsample | undefined;
  constructor(blocks: ResBlock[], attns: AttnBlock[], resample: { name: 'downsample' | 'upsample'; m: Downsample | Upsample } | undefined) {
    super();
    this.block = this.child('block', new ModuleList(blocks));
    this.attn = this.child('attn', new ModuleList(attns));
    this.resample = resample ? this.child(resample.name, resample.m) : undefined;
  }
  forward(): Tensor {
    throw new TypeError('Level is driven by UNet');
  }
}

class Mid extends Module {
  readonly block_1: ResBlock;
  readonly attn_1: AttnBlock;
  readonly block_2: ResBlock;
  constructor(c: number, temb: number, cfg: ResolvedUNetConfig, g?: Generator) {
    super();
    const rb = () => new ResBlock({ inChannels: c, outChannels: c, tembChannels: temb, dropout: cfg.dropout, groups: cfg.groups, eps: cfg.eps, generator: g });
    this.block_1 = this.child('block_1', rb());
    this.attn_1 = this.child('attn_1', new AttnBlock(c, cfg.groups, cfg.eps, g));
    this.block_2 = this.child('block_2', rb());
  }
  forward(): Tensor {
    throw new TypeError('Mid is driven by UNet');
  }
}

/**
 * ε-prediction U-Net: forward(x [N, C, H, W], t [N]) → [N, outChannels, H, W]. Runs as one native
 * program call; forwardEager() runs the same math layer by layer in TypeScript.
 */
export class UNet extends Module implements Compilable {
  readonly config: ResolvedUNetConfig;
  readonly temb: TimestepEmbedding;
  readonly conv_in: Conv2d;
  readonly down: ModuleList<Level>;
  readonly mid: Mid;
  readonly up: ModuleList<Level>;
  readonly norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  readonly #program = new Program(this);
  readonly generator: Generator | undefined;

  constructor(config: UNetConfig = {}) {
    super();
    const c = (this.config = resolve(config));
    const g = (this.generator = config.generator);
    const ch = c.channels;
    const temb = 4 * ch;
    const levels = c.channelMult.length;
    const rb = (cin: number, cout: number) => new ResBlock({ inChannels: cin, outChannels: cout, tembChannels: temb, dropout: c.dropout, groups: c.groups, eps: c.eps, generator: g });
    this.temb = this.child('temb', new TimestepEmbedding(ch, g));
    this.conv_in = this.child('conv_in', new Conv2d({ inChannels: c.inChannels, outChannels: ch, kernel: 3, padding: 1, init: { fanAvg: 1 }, generator: g }));
    const inMult = [1, ...c.channelMult];
    let res = c.resolution;
    let blockIn = ch;
    const down: Level[] = [];
    for (let l = 0; l < levels; l++) {
      const blocks: ResBlock[] = [];
      const attns: AttnBlock[] = [];
      blockIn = ch * inMult[l];
      const blockOut = ch * c.channelMult[l];
      for (let b = 0; b < c.numResBlocks; b++) {
        blocks.push(rb(blockIn, blockOut));
        blockIn = blockOut;
        if (c.attnResolutions.includes(res)) attns.push(new AttnBlock(blockIn, c.groups, c.eps, g));
      }
      const last = l === levels - 1;
      down.push(new Level(blocks, attns, last ? undefined : { name: 'downsample', m: new Downsample(blockIn, c.resampleWithConv, g) }));
      if (!last) res /= 2;
    }
    this.down = this.child('down', new ModuleList(down));
    this.mid = this.child('mid', new Mid(blockIn, temb, c, g));
    const up: Level[] = new Array(levels);
    for (let l = levels - 1; l >= 0; l--) {
      const blocks: ResBlock[] = [];
      const attns: AttnBlock[] = [];
      const blockOut = ch * c.channelMult[l];
      let skipIn = ch * c.channelMult[l];
      for (let b = 0; b <= c.numResBlocks; b++) {
        if (b === c.numResBlocks) skipIn = ch * inMult[l];
        blocks.push(rb(blockIn + skipIn, blockOut));
        blockIn = blockOut;
        if (c.attnResolutions.includes(res)) attns.push(new AttnBlock(blockIn, c.groups, c.eps, g));
      }
      up[l] = new Level(blocks, attns, l === 0 ? undefined : { name: 'upsample', m: new Upsample(blockIn, c.resampleWithConv, g) });
      if (l !== 0) res *= 2;
    }
    this.up = this.child('up', new ModuleList(up));
    this.norm_out = this.child('norm_out', new GroupNorm(c.groups, blockIn, c.eps));
    this.conv_out = this.child('conv_out', new Conv2d({ inChannels: blockIn, outChannels: c.outChannels, kernel: 3, padding: 1, init: { fanAvg: 1e-10 }, generator: g }));
  }

  #check(x: Tensor, t: Tensor): void {
    const { inChannels: cin, resolution: r } = this.config;
    if (x.ndim !== 4 || x.shape[1] !== cin || x.shape[2] !== r || x.shape[3] !== r)
      throw new RangeError(`unet: expected input [N, ${cin}, ${r}, ${r}], got [${x.shape.join(', ')}]`);
    if (t.ndim !== 1 || t.shape[0] !== x.shape[0]) throw new RangeError(`unet: timesteps must be [${x.shape[0]}], got [${t.shape.join(', ')}]`);
  }

  /** The compiled block program (for native jobs such as the sampling loop). */
  get program(): Program {
    return this.#program;
  }

  /** Frees the parameters and the program's native caches (bf16 weight copies). */
  override dispose(): void {
    this.#program.release();
    super.dispose();
  }

  /** ε̂(x_t, t), one native call; `computeDtype` 'bfloat16' = mixed precision (see ForwardOptions). */
  forward(x: Tensor, t: Tensor, opts: ForwardOptions = {}): Tensor {
    this.#check(x, t);
    return this.#program.forward(x, t, this.training, this.generator, opts);
  }

  /** ε̂(x_t, t) computed on a worker thread (inference, no autograd): the event loop stays free. */
  async forwardAsync(x: Tensor, t: Tensor, opts: InferenceOptions = {}): Promise<Tensor> {
    this.#check(x, t);
    return this.#program.forwardAsync(x, t, this.generator, opts);
  }

  /** The same forward, layer by layer in TypeScript (the path user-defined Modules take). */
  forwardEager(x: Tensor, t: Tensor): Tensor {
    this.#check(x, t);
    const temb = this.temb.forward(t);
    const hs: Tensor[] = [this.conv_in.forward(x)];
    for (const level of this.down.items) {
      for (const [b, block] of level.block.items.entries()) {
        let h = block.forward(hs[hs.length - 1], temb);
        if (level.attn.items.length) h = level.attn.items[b].forward(h);
        hs.push(h);
      }
      if (level.resample) hs.push(level.resample.forward(hs[hs.length - 1]));
    }
    let h = hs[hs.length - 1];
    h = this.mid.block_2.forward(this.mid.attn_1.forward(this.mid.block_1.forward(h, temb)), temb);
    for (let l = this.up.items.length - 1; l >= 0; l--) {
      const level = this.up.items[l];
      for (const [b, block] of level.block.items.entries()) {
        h = block.forward(concatSkip(h, hs.pop()!), temb);
        if (level.attn.items.length) h = level.attn.items[b].forward(h);
      }
      if (level.resample) h = level.resample.forward(h);
    }
    return this.conv_out.forward(F.silu(this.norm_out.forward(h)));
  }

  override describe(): Record<string, string> {
    return { 'langevin.kind': 'unet', 'langevin.config': JSON.stringify(this.config) };
  }

  /** Accepts the diffusers UNet2DModel layout (current and legacy attention names) as well. */
  override translateKeys(sd: StateDict): StateDict {
    return isDiffusersLayout(sd) ? fromDiffusers(sd, this.config.channelMult.length) : sd;
  }

  blocks(): BlockSpec[] {
    const out: BlockSpec[] = [this.temb.spec(), { ...convSpec(this.conv_in), push: true }];
    for (const level of this.down.items) {
      for (const [b, block] of level.block.items.entries()) {
        if (level.attn.items.length) out.push(block.spec(), { ...level.attn.items[b].spec(), push: true });
        else out.push({ ...block.spec(), push: true });
      }
      if (level.resample) out.push({ ...(level.resample as Downsample).spec(), push: true });
    }
    out.push(this.mid.block_1.spec(), this.mid.attn_1.spec(), this.mid.block_2.spec());
    for (let l = this.up.items.length - 1; l >= 0; l--) {
      const level = this.up.items[l];
      for (const [b, block] of level.block.items.entries()) {
        out.push({ ...block.spec(), pop: true });
        if (level.attn.items.length) out.push(level.attn.items[b].spec());
      }
      if (level.resample) out.push((level.resample as Upsample).spec());
    }
    out.push({ kind: 'normact', params: [this.norm_out.weight, this.norm_out.bias, undefined, undefined], ints: [2, this.config.groups, 1], floats: [this.config.eps, 0, 0] });
    out.push(convSpec(this.conv_out));
    return out;
  }
}

export function convSpec(c: Conv2d): BlockSpec {
  return { kind: 'conv', params: [c.weight, c.bias], ints: [c.config.stride, ...c.pads], floats: [] };
}

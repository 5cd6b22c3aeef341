// Optimizers over a parameter list, each step one native call (PyTorch 1.13's update formulas).
import { native } from '../tensor/binding.js';
import { zerosLike } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

/** What a checkpoint stores of an optimizer: state tensors plus scalar settings. */
export interface OptimizerState {
  tensors: Map<string, Tensor>;
  meta: Record<string, number | boolean | string>;
}

export interface Optimizer {
  readonly params: readonly Tensor[];
  /** The learning rate used by the next step (schedules set it). */
  lr: number;
  /** Number of steps taken. */
  readonly steps: number;
  step(): void;
  /** Clears every parameter's .grad (to none, as PyTorch's default). */
  zeroGrad(): void;
  stateDict(): OptimizerState;
  loadStateDict(s: OptimizerState): void;
  dispose(): void;
}

function checkParams(params: readonly Tensor[], what: string): void {
  if (!params.length) throw new RangeError(`${what}: no parameters to optimise`);
  for (const [i, p] of params.entries()) if (!p.requiresGrad) throw new RangeError(`${what}: parameter ${i} does not require grad`);
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

abstract class Base implements Optimizer {
  #steps = 0;
  protected constructor(
    readonly params: readonly Tensor[],
    public lr: number,
  ) {}
  get steps(): number {
    return this.#steps;
  }
  protected set steps(n: number) {
    this.#steps = n;
  }
  abstract step(): void;
  abstract stateDict(): OptimizerState;
  abstract loadStateDict(s: OptimizerState): void;
  abstract dispose(): void;
  zeroGrad(): void {
    native.zeroGrad(this.params.map((p) => p.native));
  }
  protected loadInto(dst: Tensor[], s: OptimizerState, prefix: string): void {
    for (const [i, t] of dst.entries()) {
      const src = s.tensors.get(`${prefix}.${i}`);
      if (!src) throw new RangeError(`optimizer state: missing ${prefix}.${i}`);
      if (src.shape.join() !== t.shape.join()) throw new RangeError(`optimizer state: ${prefix}.${i} has shape [${src.shape}], expected [${t.shape}]`);
      t.copy_(src);
    }
  }
}

/** Adam (L2 weight decay added to the gradient), as torch.optim.Adam. */
export class Adam extends Base {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;
  readonly #m: Tensor[];
  readonly #v: Tensor[];
  constructor(params: readonly Tensor[], opts: AdamOptions = {}) {
    super(params, opts.lr ?? 1e-3);
    checkParams(params, new.target.name);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.#m = params.map((p) => zerosLike(p).detach());
    this.#v = params.map((p) => zerosLike(p).detach());
  }
  step(): void {
    this.steps = this.steps + 1;
    native.adamStep(this.params.map((p) => p.native), this.#m.map((t) => t.native), this.#v.map((t) => t.native), this.steps, this.lr, this.betas[0], this.betas[1], this.eps, this.weightDecay, this.decoupled);
  }
  /**
   * Counts a step and returns what a native training-step job needs to run this optimizer's update
   * itself (the tensors stay owned by the optimizer).
   */
  beginNativeStep(): { expAvg: Tensor[]; expAvgSq: Tensor[]; settings: { step: number; lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean } } {
    this.steps = this.steps + 1;
    return { expAvg: this.#m, expAvgSq: this.#v, settings: { step: this.steps, lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay, decoupled: this.decoupled } };
  }
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.#m.forEach((t, i) => tensors.set(`exp_avg.${i}`, t));
    this.#v.forEach((t, i) => tensors.set(`exp_avg_sq.${i}`, t));
    return { tensors, meta: { kind: this.constructor.name, step: this.steps, lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay } };
  }
  loadStateDict(s: OptimizerState): void {
    if (s.meta.kind !== this.constructor.name) throw new RangeError(`optimizer state is for ${s.meta.kind}, not ${this.constructor.name}`);
    this.loadInto(this.#m, s, 'exp_avg');
    this.loadInto(this.#v, s, 'exp_avg_sq');
    this.steps = Number(s.meta.step);
    this.lr = Number(s.meta.lr);
  }
  dispose(): void {
    for (const t of [...this.#m, ...this.#v]) t.dispose();
  }
}

/** AdamW (decoupled weight decay, default 0.01), as torch.optim.AdamW. */
export class AdamW extends Adam {
  protected override readonly decoupled = true;
  constructor(params: readonly Tensor[], opts: AdamOptions = {}) {
    super(params, { weightDecay: 0.01, ...opts });
  }
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** SGD with momentum, dampening, weight decay and Nesterov, as torch.optim.SGD. */
export class SGD extends Base {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly #bufs: Tensor[];
  constructor(params: readonly Tensor[], opts: SgdOptions) {
    super(params, opts.lr);
    checkParams(params, 'SGD');
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.#bufs = this.momentum ? params.map((p) => zerosLike(p).detach()) : [];
  }
  step(): void {
    native.sgdStep(this.params.map((p) => p.native), this.#bufs.map((t) => t.native), this.lr, this.momentum, this.dampening, this.weightDecay, this.nesterov, this.steps === 0);
    this.steps = this.steps + 1;
  }
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.#bufs.forEach((t, i) => tensors.set(`momentum_buffer.${i}`, t));
    return { tensors, meta: { kind: 'SGD', step: this.steps, lr: this.lr, momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov } };
  }
  loadStateDict(s: OptimizerState): void {
    if (s.meta.kind !== 'SGD') throw new RangeError(`optimizer state is for ${s.meta.kind}, not SGD`);
    this.loadInto(this.#bufs, s, 'momentum_buffer');
    this.steps = Number(s.meta.step);
    this.lr = Number(s.meta.lr);
  }
  dispose(): void {
    for (const t of this.#bufs) t.dispose();
  }
}

/** Scales gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  return native.clipGradNorm(params.map((p) => p.native), maxNorm);
}

// Exponential moving average of a model's parameters (and a copy of its buffers), one native call
// per update; swappable in for sampling and evaluation.
import { native } from '../tensor/binding.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';

export interface EmaOptions {
  /** Target decay (DDPM: 0.9999). */
  decay: number;
  /**
   * Warm the decay up as min(decay, (1 + n)/(10 + n)) over updates n — small runs need it: at 0.9999
   * the average is still ~90% initial weights after 1,000 steps.
   */
  warmup?: boolean;
}

export class EMA {
  readonly decay: number;
  readonly warmup: boolean;
  /** Shadow copies in state-dict order (parameters and floating buffers averaged; others copied). */
  readonly shadow: Map<string, Tensor>;
  #updates = 0;

  constructor(
    readonly model: Module,
    opts: EmaOptions,
  ) {
    if (!(opts.decay >= 0 && opts.decay <= 1)) throw new RangeError(`EMA decay must be in [0, 1], got ${opts.decay}`);
    this.decay = opts.decay;
    this.warmup = opts.warmup ?? false;
    this.shadow = new Map([...model.stateDict()].map(([k, t]) => [k, t.detach().clone()]));
  }

  get updates(): number {
    return this.#updates;
  }

  /** The decay the next update uses. */
  currentDecay(): number {
    return this.warmup ? Math.min(this.decay, (1 + this.#updates) / (10 + this.#updates)) : this.decay;
  }

  update(): void {
    const src = this.model.stateDict();
    const keys = [...this.shadow.keys()];
    native.emaUpdate(keys.map((k) => this.shadow.get(k)!.native), keys.map((k) => src.get(k)!.native), this.currentDecay());
    this.#updates++;
  }

  /** Copies the averaged weights into `target` (a model of the same architecture). */
  copyTo(target: Module): void {
    target.loadStateDict(this.shadow);
  }

  /** Runs fn with the averaged weights swapped into the model, then restores the raw ones. */
  withAveraged<R>(fn: () => R): R {
    const raw = new Map([...this.model.stateDict()].map(([k, t]) => [k, t.detach().clone()]));
    this.model.loadStateDict(this.shadow);
    try {
      return fn();
    } finally {
      noGrad(() => this.model.loadStateDict(raw));
      for (const t of raw.values()) t.dispose();
    }
  }

  stateDict(): { tensors: Map<string, Tensor>; updates: number } {
    return { tensors: this.shadow, updates: this.#updates };
  }
  loadStateDict(s: { tensors: Map<string, Tensor>; updates: number }): void {
    noGrad(() => {
      for (const [k, t] of this.shadow) {
        const src = s.tensors.get(k);
        if (!src) throw new RangeError(`EMA state: missing ${k}`);
        t.copy_(src);
      }
    });
    this.#updates = s.updates;
  }
  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
  }
}

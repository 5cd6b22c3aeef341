// Gaussian diffusion (Ho et al. 2020): the forward process q(x_t | x0), the ε-prediction loss
// L_simple, the posterior q(x_{t−1} | x_t, x0), the model's reverse step p(x_{t−1} | x_t) with
// either fixed variance, and DDIM. Tables are float64 (as the original); they are cast to float32
// where they meet a tensor. The per-step update itself runs natively (native/diffusion.cc) so the
// step-by-step sampler and the whole-loop native sampler are one implementation.
import { native, type DiffusionStepPlan } from '../tensor/binding.js';
import { randint, randn, tensor } from '../tensor/creation.js';
import type { Generator } from '../tensor/generator.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { supportedComputeDtype, type ComputeDtype } from '../tensor/runtime.js';
import type { Device } from '../tensor/dtype.js';
import type { ForwardOptions } from '../nn/program.js';
import { UNet } from '../nn/unet.js';
import { betas, DiffusionTables, type ScheduleOptions, type VarianceKind } from './schedule.js';

/** Anything that predicts ε from (x_t, t): the U-Net or a user Module. */
export interface EpsModel {
  forward(x: Tensor, t: Tensor, opts?: ForwardOptions): Tensor;
}

export interface DiffusionOptions extends ScheduleOptions {
  /** The reverse-process variance: 'fixedlarge' σ² = β (CIFAR-10 default), 'fixedsmall' σ² = β̃. */
  variance?: VarianceKind;
  /** Clip x̂0 to [−1, 1] when sampling and in the bound (default true, as the original). */
  clip?: boolean;
}

export type { DiffusionStepPlan };

export class GaussianDiffusion {
  readonly tables: DiffusionTables;
  readonly variance: VarianceKind;
  readonly clip: boolean;
  readonly options: Required<DiffusionOptions>;
  readonly #logVariance: Float64Array;

  constructor(o: DiffusionOptions = {}) {
    const variance = o.variance ?? 'fixedlarge';
    if (variance !== 'fixedlarge' && variance !== 'fixedsmall') throw new RangeError(`diffusion: variance must be 'fixedlarge' or 'fixedsmall', got '${variance}'`);
    this.tables = new DiffusionTables(betas(o));
    this.variance = variance;
    this.clip = o.clip ?? true;
    this.options = { schedule: o.schedule ?? 'linear', timesteps: this.tables.T, betaStart: o.betaStart ?? 1e-4, betaEnd: o.betaEnd ?? 0.02, variance, clip: this.clip };
    this.#logVariance = this.tables.logVariance(variance);
  }

  get T(): number {
    return this.tables.T;
  }

  /** The model's log σ²_t (float64). */
  logVariance(t: number): number {
    return this.#logVariance[this.#checkT(t)];
  }

  #checkT(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.T) throw new RangeError(`diffusion: timestep must be an integer in [0, ${this.T - 1}], got ${t}`);
    return t;
  }

  /** table[t] for a batch of timesteps t [N] → float32 [N, 1, 1, 1] on x's device (the original's _extract). */
  extract(table: Float64Array, t: Tensor, like: Tensor): Tensor {
    return tidy(() => {
      const idx = t.device === 'cpu' ? t.long() : t.cpu().long();
      const v = tensor(table).indexSelect(0, idx).float();
      const shape = [t.shape[0], ...like.shape.slice(1).map(() => 1)];
      return (like.device === 'cpu' ? v : v.to(like.device)).reshape(shape);
    });
  }

  /** x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·ε for per-example timesteps t [N]. */
  qSample(x0: Tensor, t: Tensor, noise: Tensor): Tensor {
    if (t.ndim !== 1 || t.shape[0] !== x0.shape[0]) throw new RangeError(`qSample: timesteps must be [${x0.shape[0]}], got [${t.shape.join(', ')}]`);
    return tidy(() => this.extract(this.tables.sqrtAlphasCumprod, t, x0).mul(x0).add(this.extract(this.tables.sqrtOneMinusAlphasCumprod, t, x0).mul(noise)));
  }

  /**
   * L_simple: t ~ U{0..T−1}, ε ~ N(0, I) (drawn in that order from `generator`), per-example
   * mean((ε − ε̂(x_t, t))²) and their batch mean.
   */
  trainingLoss(model: EpsModel, x0: Tensor, generator?: Generator, opts: { computeDtype?: ComputeDtype | 'auto' } = {}): { loss: Tensor; perExample: Tensor } {
    const computeDtype = trainingComputeDtype(model, opts.computeDtype, x0.device, 'trainingLoss');
    return tidy(() => {
      const n = x0.shape[0];
      const t = randint(0, this.T, [n], { generator });
      const noise = randn(x0.shape, { generator });
      const xt = this.qSample(x0, t, noise.to(x0.device));
      const eps = computeDtype === 'float32' ? model.forward(xt, t.to(x0.device)) : model.forward(xt, t.to(x0.device), { computeDtype });
      const perExample = eps.sub(noise.to(x0.device)).square().flatten(1).mean(1);
      return { loss: perExample.mean(), perExample };
    });
  }

  /** x̂0 = sqrt(1/ᾱ_t)·x_t − sqrt(1/ᾱ_t − 1)·ε (unclipped). */
  predictX0(xt: Tensor, t: number, eps: Tensor): Tensor {
    this.#checkT(t);
    return tidy(() => xt.mul(this.tables.sqrtRecipAlphasCumprod[t]).sub(eps.mul(this.tables.sqrtRecipM1AlphasCumprod[t])));
  }

  /** q(x_{t−1} | x_t, x0): mean, and the (clipped) log-variance as a number. */
  qPosterior(x0: Tensor, xt: Tensor, t: number): { mean: Tensor; variance: number; logVariance: number } {
    this.#checkT(t);
    const tb = this.tables;
    return {
      mean: tidy(() => x0.mul(tb.posteriorMeanCoef1[t]).add(xt.mul(tb.posteriorMeanCoef2[t]))),
      variance: tb.posteriorVariance[t],
      logVariance: tb.posteriorLogVarianceClipped[t],
    };
  }

  /** p(x_{t−1} | x_t) from a model output ε̂: its mean (posterior mean at the clipped x̂0), log σ² and x̂0. */
  pMeanVariance(xt: Tensor, t: number, eps: Tensor, clip = this.clip): { mean: Tensor; logVariance: number; x0: Tensor } {
    return tidy(() => {
      let x0 = this.predictX0(xt, t, eps);
      if (clip) x0 = x0.clamp(-1, 1);
      return { mean: this.qPosterior(x0, xt, t).mean, logVariance: this.logVariance(t), x0 };
    });
  }

  /** The coefficients of one ancestral step (Algorithm 2 through the posterior, as the original computes it). */
  ancestralPlan(t: number): DiffusionStepPlan {
    this.#checkT(t);
    const tb = this.tables;
    return {
      t,
      recip: tb.sqrtRecipAlphasCumprod[t],
      recipM1: tb.sqrtRecipM1AlphasCumprod[t],
      coef1: tb.posteriorMeanCoef1[t],
      coef2: tb.posteriorMeanCoef2[t],
      sigma: t > 0 ? Math.exp(0.5 * this.#logVariance[t]) : 0,
    };
  }

  /**
   * DDIM's steps (diffusers' defaults): "leading" spacing t_i = i·⌊T/n⌋ run in reverse, the final
   * ᾱ_prev = 1 (`set_alpha_to_one`), σ = η·sqrt((1 − ᾱ')/(1 − ᾱ))·sqrt(1 − ᾱ/ᾱ').
   */
  ddimPlans(steps: number, eta = 0): DiffusionStepPlan[] {
    if (!Number.isInteger(steps) || steps < 1 || steps > this.T) throw new RangeError(`ddim: steps must be an integer in [1, ${this.T}], got ${steps}`);
    if (!(eta >= 0)) throw new RangeError(`ddim: eta must be ≥ 0, got ${eta}`);
    const stride = Math.floor(this.T / steps);
    const ac = this.tables.alphasCumprod;
    const plans: DiffusionStepPlan[] = [];
    for (let i = steps - 1; i >= 0; i--) {
      const t = i * stride;
      const a = ac[t];
      const aPrev = t - stride >= 0 ? ac[t - stride] : 1;
      const sigma = eta * Math.sqrt((1 - aPrev) / (1 - a)) * Math.sqrt(1 - a / aPrev);
      plans.push({ t, recip: Math.sqrt(1 / a), recipM1: Math.sqrt(1 / a - 1), coef1: Math.sqrt(aPrev), coef2: Math.sqrt(Math.max(1 - aPrev - sigma * sigma, 0)), sigma });
    }
    return plans;
  }

  /**
   * One reverse step from a model output: x' = coef1·x̂0 + coef2·(ε for DDIM, x_t for ancestral)
   * + σ·z, z drawn from `generator` only when σ > 0. Returns x' and the x̂0 it used.
   */
  step(x: Tensor, eps: Tensor, plan: DiffusionStepPlan, opts: { ddim?: boolean; clip?: boolean; generator?: Generator } = {}): { x: Tensor; x0: Tensor } {
    const [a, b] = native.diffusionStep(x.native, eps.native, plan, opts.clip ?? this.clip, opts.ddim ?? false, opts.generator?.native);
    return { x: new Tensor(a), x0: new Tensor(b) };
  }
}

/**
 * The compute dtype a training forward of `model` runs in: mixed precision needs the U-Net's native
 * program (a user model's forward would ignore it), so an explicit 'bfloat16' elsewhere throws and
 * 'auto' falls back to float32.
 */
export function trainingComputeDtype(model: EpsModel, requested: ComputeDtype | 'auto' | undefined, device: Device, who: string): ComputeDtype {
  return supportedComputeDtype(requested, device, model instanceof UNet, `${who}: computeDtype`, 'needs a U-Net (its native program); a custom model runs in float32');
}

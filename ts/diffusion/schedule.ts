// Noise schedules and every table the diffusion math needs, in float64 as the original release
// computes them (values are cast to float32 only where they meet a tensor).

export type BetaSchedule = 'linear' | 'cosine';

export interface ScheduleOptions {
  /** Default 'linear' (Ho et al.); 'cosine' is Nichol & Dhariwal's (s = 0.008, β ≤ 0.999). */
  schedule?: BetaSchedule;
  /** T, default 1000. */
  timesteps?: number;
  /** Linear schedule ends, default 1e-4 → 0.02. */
  betaStart?: number;
  betaEnd?: number;
}

/** β_1..β_T (index 0 is the paper's t = 1), float64. */
export function betas(o: ScheduleOptions = {}): Float64Array {
  const T = o.timesteps ?? 1000;
  if (!Number.isInteger(T) || T < 1) throw new RangeError(`diffusion: timesteps must be a positive integer, got ${T}`);
  const kind = o.schedule ?? 'linear';
  const out = new Float64Array(T);
  if (kind === 'linear') {
    const a = o.betaStart ?? 1e-4;
    const b = o.betaEnd ?? 0.02;
    if (!(a > 0 && b >= a && b < 1)) throw new RangeError(`diffusion: need 0 < betaStart ≤ betaEnd < 1, got ${a} and ${b}`);
    // numpy.linspace: start + i·step, with the last value exactly `stop`.
    const step = T > 1 ? (b - a) / (T - 1) : 0;
    for (let i = 0; i < T; i++) out[i] = a + i * step;
    if (T > 1) out[T - 1] = b;
  } else if (kind === 'cosine') {
    const s = 0.008;
    const f = (t: number) => Math.cos(((t / T + s) / (1 + s)) * (Math.PI / 2)) ** 2;
    for (let i = 0; i < T; i++) out[i] = Math.min(1 - f(i + 1) / f(i), 0.999);
  } else {
    throw new RangeError(`diffusion: unknown schedule '${kind}' (linear, cosine)`);
  }
  return out;
}

/** The derived tables of the forward process and its posterior, indexed by code timestep 0..T−1. */
export class DiffusionTables {
  readonly T: number;
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  readonly alphasCumprodPrev: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  readonly sqrtRecipAlphasCumprod: Float64Array;
  readonly sqrtRecipM1AlphasCumprod: Float64Array;
  /** β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t); 0 at t = 0. */
  readonly posteriorVariance: Float64Array;
  /** log β̃ with t = 0 replaced by β̃_1 (the original's "clipped" table). */
  readonly posteriorLogVarianceClipped: Float64Array;
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;

  constructor(b: Float64Array) {
    const T = (this.T = b.length);
    this.betas = b;
    const ac = (this.alphasCumprod = new Float64Array(T));
    let prod = 1;
    for (let i = 0; i < T; i++) ac[i] = prod *= 1 - b[i];
    const prev = (this.alphasCumprodPrev = new Float64Array(T));
    for (let i = 0; i < T; i++) prev[i] = i === 0 ? 1 : ac[i - 1];
    const map = (f: (i: number) => number) => Float64Array.from({ length: T }, (_, i) => f(i));
    this.sqrtAlphasCumprod = map((i) => Math.sqrt(ac[i]));
    this.sqrtOneMinusAlphasCumprod = map((i) => Math.sqrt(1 - ac[i]));
    this.sqrtRecipAlphasCumprod = map((i) => Math.sqrt(1 / ac[i]));
    this.sqrtRecipM1AlphasCumprod = map((i) => Math.sqrt(1 / ac[i] - 1));
    const pv = (this.posteriorVariance = map((i) => (b[i] * (1 - prev[i])) / (1 - ac[i])));
    this.posteriorLogVarianceClipped = map((i) => Math.log(T > 1 && i === 0 ? pv[1] : pv[i]));
    this.posteriorMeanCoef1 = map((i) => (b[i] * Math.sqrt(prev[i])) / (1 - ac[i]));
    this.posteriorMeanCoef2 = map((i) => ((1 - prev[i]) * Math.sqrt(1 - b[i])) / (1 - ac[i]));
  }

  /**
   * The model's log-variance table: 'fixedlarge' is log β with t = 0 set to β̃_1 (the original's
   * convention, for a better decoder likelihood); 'fixedsmall' is the clipped log β̃.
   */
  logVariance(kind: VarianceKind): Float64Array {
    if (kind === 'fixedsmall') return this.posteriorLogVarianceClipped;
    return Float64Array.from({ length: this.T }, (_, i) => Math.log(i === 0 && this.T > 1 ? this.posteriorVariance[1] : this.betas[i]));
  }
}

export type VarianceKind = 'fixedlarge' | 'fixedsmall';

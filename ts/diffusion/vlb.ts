// The variational bound in bits/dim exactly as the original computes it (calc_bpd_loop): for each
// t a fresh x_t ~ q(x_t | x0); KL(q(x_{t−1} | x_t, x0) ‖ p(x_{t−1} | x_t)) for t > 0 with the
// clipped-x̂0 model mean, the discretized Gaussian decoder NLL at t = 0, and the prior term
// KL(q(x_T | x0) ‖ N(0, I)). The terms are computed in float64 from the model's float32 output.
import { noGrad } from '../tensor/autograd.js';
import { full, randn, where } from '../tensor/creation.js';
import { Generator } from '../tensor/generator.js';
import type { JobOptions } from '../tensor/jobs.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/dtype.js';
import type { ImageDataset } from '../data/dataset.js';
import { UNet } from '../nn/unet.js';
import type { EpsModel, GaussianDiffusion } from './gaussian.js';

const LN2 = Math.log(2);

/** Per-example mean over all but the first dimension. */
function meanFlat(x: Tensor): Tensor {
  return x.flatten(1).mean(1);
}

/** KL(N(m1, e^lv1) ‖ N(m2, e^lv2)) elementwise, with scalar log-variances. */
export function normalKl(m1: Tensor, lv1: number, m2: Tensor, lv2: number): Tensor {
  return tidy(() => m1.sub(m2).square().mul(0.5 * Math.exp(-lv2)).add(0.5 * (-1 + lv2 - lv1 + Math.exp(lv1 - lv2))));
}

/** Φ(x) by the tanh approximation the original uses. */
function approxStdNormalCdf(x: Tensor): Tensor {
  return tidy(() => x.pow(3).mul(0.044715).add(x).mul(Math.sqrt(2 / Math.PI)).tanh().add(1).mul(0.5));
}

/**
 * log p(x | μ, σ) of 8-bit data scaled to [−1, 1] under a Gaussian discretized to bins of width
 * 2/255, with the edge bins open (x < −0.999: log Φ(plus); x > 0.999: log(1 − Φ(min))).
 */
export function discretizedGaussianLogLikelihood(x: Tensor, means: Tensor, logScale: number): Tensor {
  return tidy(() => {
    const centered = x.sub(means);
    const invStd = Math.exp(-logScale);
    const cdfPlus = approxStdNormalCdf(centered.add(1 / 255).mul(invStd));
    const cdfMin = approxStdNormalCdf(centered.sub(1 / 255).mul(invStd));
    const logCdfPlus = cdfPlus.clamp(1e-12).log();
    const logOneMinusCdfMin = cdfMin.neg().add(1).clamp(1e-12).log();
    const logDelta = cdfPlus.sub(cdfMin).clamp(1e-12).log();
    return where(x.lt(-0.999), logCdfPlus, where(x.gt(0.999), logOneMinusCdfMin, logDelta));
  });
}

/**
 * The bound's term for one timestep t (all examples at the same t) given x_t's noise, in bits/dim
 * per example: the KL for t > 0, the decoder NLL for t = 0. `eps` is the model's output at (x_t, t).
 */
export function vlbTerm(diffusion: GaussianDiffusion, x0: Tensor, xt: Tensor, t: number, eps: Tensor, clip = diffusion.clip): Tensor {
  return tidy(() => {
    const x064 = x0.double();
    const xt64 = xt.double();
    const model = diffusion.pMeanVariance(xt64, t, eps.double(), clip);
    if (t === 0) return meanFlat(discretizedGaussianLogLikelihood(x064, model.mean, 0.5 * model.logVariance).neg()).div(LN2);
    const truth = diffusion.qPosterior(x064, xt64, t);
    return meanFlat(normalKl(truth.mean, truth.logVariance, model.mean, model.logVariance)).div(LN2);
  });
}

/** KL(q(x_T | x0) ‖ N(0, I)) in bits/dim per example. */
export function priorBpd(diffusion: GaussianDiffusion, x0: Tensor): Tensor {
  return tidy(() => {
    const T = diffusion.T - 1;
    const tb = diffusion.tables;
    const mean = x0.double().mul(tb.sqrtAlphasCumprod[T]);
    return meanFlat(normalKl(mean, Math.log(1 - tb.alphasCumprod[T]), mean.mul(0), 0)).div(LN2);
  });
}

export interface BpdOptions extends Omit<JobOptions, 'progressEvery'> {
  batchSize?: number;
  /** Drives the x_t draws. Default 0. */
  seed?: number;
  device?: Device;
  clip?: boolean;
}

export interface BpdResult {
  /** Mean total bits/dim and its standard error over images. */
  total: number;
  totalStderr: number;
  prior: number;
  /** The t = 0 term (discretized decoder NLL). */
  decoder: number;
  /** Mean term per code timestep t (index 0 is the decoder). */
  perT: number[];
  n: number;
}

/** The full bound over a data set: T model forwards per image, async (worker-thread forwards for a U-Net). */
export async function bitsPerDim(model: EpsModel, diffusion: GaussianDiffusion, data: ImageDataset, o: BpdOptions = {}): Promise<BpdResult> {
  const T = diffusion.T;
  const gen = new Generator(o.seed ?? 0);
  const perT = new Float64Array(T);
  const totals: number[] = [];
  let prior = 0;
  const batches = Math.ceil(data.size / (o.batchSize ?? 64));
  const total = batches * T;
  let done = 0;
  const wasTraining = model instanceof UNet ? model.training : false;
  if (model instanceof UNet) model.eval();
  try {
    for (const { x, y } of data.batches({ batchSize: o.batchSize ?? 64, shuffle: false })) {
      y.dispose();
      const x0 = o.device && o.device !== 'cpu' ? x.to(o.device) : x;
      if (x0 !== x) x.dispose();
      const n = x0.shape[0];
      const sum = new Float64Array(n);
      try {
        const p = priorBpd(diffusion, x0);
        const pv = p.toArray() as Float64Array;
        p.dispose();
        for (let i = 0; i < n; i++) (sum[i] += pv[i]), (prior += pv[i]);
        for (let t = T - 1; t >= 0; t--) {
          if (o.signal?.aborted) throw Object.assign(new Error('bits/dim was aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
          const noise = randn(x0.shape, { generator: gen });
          const tt = full([n], t, { dtype: 'int64', device: x0.device });
          const xt = diffusion.qSample(x0, tt, o.device && o.device !== 'cpu' ? noise.to(o.device) : noise);
          const eps = model instanceof UNet ? await model.forwardAsync(xt, tt) : noGrad(() => model.forward(xt, tt));
          const term = vlbTerm(diffusion, x0, xt, t, eps, o.clip);
          const v = term.toArray() as Float64Array;
          for (const z of [noise, tt, xt, eps, term]) z.dispose();
          for (let i = 0; i < n; i++) (sum[i] += v[i]), (perT[t] += v[i]);
          done++;
          if (o.onProgress && (done % 10 === 0 || done === total)) o.onProgress({ step: done, total });
        }
      } finally {
        x0.dispose();
      }
      totals.push(...sum);
    }
  } finally {
    if (model instanceof UNet) model.train(wasTraining);
  }
  const n = totals.length;
  const mean = totals.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? totals.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { total: mean, totalStderr: Math.sqrt(variance / n), prior: prior / n, decoder: perT[0] / n, perT: Array.from(perT, (v) => v / n), n };
}

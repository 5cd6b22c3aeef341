// A Langevin chain on a Gaussian energy, run natively on a worker thread.
import { native } from './binding.js';
import type { Generator } from './generator.js';
import { runJob, type JobOptions } from './jobs.js';
import type { Tensor } from './tensor.js';

export interface GaussianLangevinOptions extends JobOptions {
  /** Target mean μ. Default 0. */
  mean?: number;
  /** Target standard deviation s. Default 1. */
  std?: number;
  /** Step size α. Default 0.01. */
  stepSize?: number;
  /** Noise scale σ. Default √(2α) for α = 0.01 (the Langevin choice). */
  noise?: number;
  /** Number of steps. Default 100. */
  steps?: number;
  generator?: Generator;
}

/**
 * Runs x ← x − α·(x − μ)/s² + σ·ε in place for `steps` steps on a worker thread: Langevin dynamics
 * for E(x) = ‖x − μ‖²/(2s²). The stationary law is N(μ, σ²/(1 − (1 − α/s²)²)) per element, which
 * makes this the reference chain for checking samplers. `x` is locked while the chain runs; progress
 * reports carry the mean energy.
 */
export async function gaussianLangevin(x: Tensor, opts: GaussianLangevinOptions = {}): Promise<Tensor> {
  const { generator, onProgress, progressEvery, signal, ...chain } = opts;
  await runJob((jobOpts) => native.langevinGaussian(x.native, chain, generator?.native, jobOpts), { onProgress, progressEvery, signal });
  return x;
}

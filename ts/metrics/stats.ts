// Feature statistics (mean, covariance with ddof = 1) accumulated over batches in float64, so 50k
// samples never sit in memory at once. The sums are shifted by the first batch's mean (the
// "shifted data" algorithm): raw second moments lose digits when the mean is large next to the
// spread, shifted ones do not. Saved as safetensors or as pytorch-fid's .npz (`mu`, `sigma`).
import { extname } from 'node:path';
import { readNpz, writeNpz } from '../io/npz.js';
import { metadataJson, readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { zeros } from '../tensor/creation.js';
import { tidy, keep } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** Mean and covariance of a feature set: float64 `mu` [d] and `sigma` [d, d], and the count. */
export interface FeatureMoments {
  mu: Tensor;
  sigma: Tensor;
  count: number;
  /** Free-form provenance saved with the statistics (feature network, data, …). */
  meta?: Record<string, unknown>;
}

export class FeatureStats {
  private shift?: Tensor; // [d] float64
  private sum?: Tensor; // Σ (x − shift)            [d]
  private outer?: Tensor; // Σ (x − shift)(x − shift)ᵀ [d, d]
  private n = 0;

  get count(): number {
    return this.n;
  }

  get dim(): number | undefined {
    return this.shift?.shape[0];
  }

  /** Adds a batch of features [n, d] (any float dtype or device; converted to float64 on the CPU). */
  add(features: Tensor): void {
    if (features.shape.length !== 2) throw new RangeError(`FeatureStats.add: features must be [n, d], got [${features.shape}]`);
    const [n, d] = features.shape;
    if (this.dim !== undefined && d !== this.dim) throw new RangeError(`FeatureStats.add: features have ${d} dimensions, earlier batches ${this.dim}`);
    if (n === 0) return;
    tidy(() => {
      const x = features.detach().cpu().double();
      if (!x.isfinite().all().item()) throw new RangeError('FeatureStats.add: features contain NaN or Inf');
      if (this.shift === undefined) {
        this.shift = keep(x.mean(0));
        this.sum = keep(zeros([d], { dtype: 'float64' }));
        this.outer = keep(zeros([d, d], { dtype: 'float64' }));
      }
      const c = x.sub(this.shift);
      const sum = this.sum!.add(c.sum(0));
      const outer = this.outer!.add(c.t().matmul(c));
      this.sum!.dispose();
      this.outer!.dispose();
      this.sum = keep(sum);
      this.outer = keep(outer);
    });
    this.n += n;
  }

  /** The mean and the unbiased covariance (as `np.cov(rowvar=False)`); needs ≥ 2 samples. */
  moments(meta?: Record<string, unknown>): FeatureMoments {
    if (this.n < 2) throw new RangeError(`FeatureStats: ${this.n} sample(s) seen; a covariance needs at least 2`);
    const n = this.n;
    return tidy(() => {
      const m = this.sum!.div(n); // mean of the shifted data
      const sigma = this.outer!.sub(m.unsqueeze(1).matmul(m.unsqueeze(0)).mul(n)).div(n - 1);
      return { mu: keep(m.add(this.shift!)), sigma: keep(sigma.add(sigma.t()).div(2)), count: n, meta };
    });
  }

  dispose(): void {
    for (const t of [this.shift, this.sum, this.outer]) t?.dispose();
    this.shift = this.sum = this.outer = undefined;
    this.n = 0;
  }
}

/** The format tag `saveMoments` writes into safetensors metadata. */
export const STATS_FORMAT = 'langevin-feature-stats';

/** The trace of a square matrix (a strided view of its diagonal, no copy of the matrix). */
export function trace(m: Tensor): number {
  const n = m.shape[0];
  return tidy(() => m.contiguous().flatten().slice(0, 0, n * n, n + 1).sum().item() as number);
}

export function disposeMoments(m: FeatureMoments): void {
  m.mu.dispose();
  m.sigma.dispose();
}

/** Saves statistics: `.npz` as pytorch-fid (`mu`, `sigma`), anything else as safetensors (with count and meta). */
export async function saveMoments(path: string, m: FeatureMoments): Promise<void> {
  if (extname(path).toLowerCase() === '.npz') return writeNpz(path, { mu: m.mu, sigma: m.sigma });
  await writeSafetensors(path, { mu: m.mu, sigma: m.sigma }, { format: STATS_FORMAT, count: String(m.count), meta: JSON.stringify(m.meta ?? {}) });
}

/** Loads statistics saved by `saveMoments`, or a pytorch-fid `.npz`; `count` is NaN when the file does not say. */
export async function loadMoments(path: string): Promise<FeatureMoments> {
  if (extname(path).toLowerCase() === '.npz') return momentsFromTensors(await readNpz(path), {}, path);
  const { tensors, metadata } = await readSafetensors(path);
  return momentsFromTensors(tensors, metadata, path);
}

/** Statistics from loaded arrays (`mu`, `sigma`; count and meta from safetensors metadata). Takes ownership of `tensors`. */
export function momentsFromTensors(tensors: Map<string, Tensor>, metadata: Record<string, string>, where: string): FeatureMoments {
  const fail = (p: string): never => {
    for (const t of tensors.values()) t.dispose();
    throw new RangeError(`${where}: ${p}`);
  };
  let meta: Record<string, unknown> | undefined;
  try {
    if (metadata.meta !== undefined) meta = metadataJson(metadata, 'meta', where) as Record<string, unknown>;
  } catch (e) {
    fail((e as Error).message);
  }
  const count = metadata.count !== undefined ? Number(metadata.count) : Number.NaN;
  const mu = tensors.get('mu');
  const sigma = tensors.get('sigma');
  if (!mu || !sigma) fail(`needs arrays "mu" and "sigma", found ${[...tensors.keys()].join(', ') || 'none'}`);
  const d = mu!.shape[0];
  if (mu!.shape.length !== 1 || sigma!.shape.length !== 2 || sigma!.shape[0] !== d || sigma!.shape[1] !== d)
    fail(`mu [${mu!.shape}] and sigma [${sigma!.shape}] do not describe one d-dimensional distribution`);
  for (const [k, t] of tensors) if (k !== 'mu' && k !== 'sigma') t.dispose();
  const out = { mu: mu!.double(), sigma: sigma!.double(), count, meta };
  mu!.dispose();
  sigma!.dispose();
  return out;
}

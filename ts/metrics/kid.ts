// Kernel Inception Distance (Bińkowski et al. 2018) as torch-fidelity and clean-fid compute it: the
// unbiased estimator of MMD² with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over
// random subsets (defaults: 100 subsets of min(n1, n2, 1000) rows, drawn without replacement).
// Unlike FD it is unbiased at small n, and can come out slightly negative.
import { randperm } from '../tensor/creation.js';
import { Generator } from '../tensor/generator.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { trace } from './stats.js';

export interface KidOptions {
  /** Number of subsets (default 100). */
  subsets?: number;
  /** Rows per subset (default min(n1, n2, 1000)). */
  subsetSize?: number;
  /** Seed of the subset draws (default 0). */
  seed?: number;
  /** Explicit subsets: one [rows of features1, rows of features2] pair each (overrides the draws). */
  indices?: Array<[Tensor, Tensor]>;
}

export interface KidResult {
  mean: number;
  /** Standard deviation over subsets (ddof 0, as torch-fidelity). */
  std: number;
  values: number[];
  subsetSize: number;
}

/** Unbiased MMD² between two equal-size feature sets with the cubic polynomial kernel (float64). */
export function polynomialMmd2(x: Tensor, y: Tensor): number {
  return tidy(() => {
    const a = x.double();
    const b = y.double();
    const [m, d] = a.shape;
    const kernel = (p: Tensor, q: Tensor): Tensor => p.matmul(q.t()).div(d).add(1).pow(3);
    const kxx = kernel(a, a);
    const kyy = kernel(b, b);
    const kxy = kernel(a, b);
    // Off-diagonal sums: the whole sum minus the trace (k(x, x) terms are excluded).
    const offDiagonal = (k: Tensor): number => (k.sum().item() as number) - trace(k);
    const sxx = offDiagonal(kxx);
    const syy = offDiagonal(kyy);
    const sxy = kxy.sum().item() as number;
    return (sxx + syy) / (m * (m - 1)) - (2 * sxy) / (m * m);
  });
}

/** KID between two feature sets [n1, d] and [n2, d]. */
export function kernelInceptionDistance(features1: Tensor, features2: Tensor, opts: KidOptions = {}): KidResult {
  if (features1.shape.length !== 2 || features2.shape.length !== 2) throw new RangeError(`kid: features must be [n, d], got [${features1.shape}] and [${features2.shape}]`);
  const [n1, d] = features1.shape;
  const [n2, d2] = features2.shape;
  if (d !== d2) throw new RangeError(`kid: the feature sets have ${d} and ${d2} dimensions`);
  const values: number[] = [];
  let size: number;
  if (opts.indices) {
    if (opts.indices.length === 0) throw new RangeError('kid: indices is empty');
    size = opts.indices[0][0].shape[0];
    for (const [i1, i2] of opts.indices) {
      if (i1.shape[0] !== size || i2.shape[0] !== size) throw new RangeError('kid: every subset needs the same number of rows on both sides');
      values.push(tidy(() => polynomialMmd2(features1.indexSelect(0, i1), features2.indexSelect(0, i2))));
    }
  } else {
    const subsets = opts.subsets ?? 100;
    size = opts.subsetSize ?? Math.min(n1, n2, 1000);
    if (!Number.isInteger(subsets) || subsets < 1) throw new RangeError(`kid: subsets must be a positive integer, got ${subsets}`);
    if (!Number.isInteger(size) || size < 2 || size > Math.min(n1, n2))
      throw new RangeError(`kid: subsetSize must be an integer in [2, ${Math.min(n1, n2)}] (the smaller set), got ${size}`);
    const gen = new Generator(opts.seed ?? 0);
    for (let s = 0; s < subsets; s++) {
      values.push(tidy(() => {
        const i1 = randperm(n1, { generator: gen }).slice(0, 0, size);
        const i2 = randperm(n2, { generator: gen }).slice(0, 0, size);
        return polynomialMmd2(features1.indexSelect(0, i1), features2.indexSelect(0, i2));
      }));
    }
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std, values, subsetSize: size };
}

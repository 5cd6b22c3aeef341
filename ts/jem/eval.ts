// JEM's evaluations: accuracy, calibration (ECE with equal-width right-closed bins, conf = 1.0
// counted) with a reliability diagram, out-of-distribution detection (AUROC, ties count ½) for
// the three scores of the paper, and PGD robustness (L∞ and L2, random start, restarts).
import { grad, noGrad } from '../tensor/autograd.js';
import { rand, randn, cat } from '../tensor/creation.js';
import type { Generator } from '../tensor/generator.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import * as F from '../nn/functional.js';
import type { ImageDataset } from '../data/dataset.js';
import { savePlot } from '../train/plot.js';
import { energyGrad, type Classifier } from './energy.js';
import { sgld } from './sgld.js';

export interface CalibrationBin {
  lo: number;
  hi: number;
  count: number;
  /** Mean accuracy and confidence of the bin (NaN when empty). */
  accuracy: number;
  confidence: number;
}

export interface Calibration {
  ece: number;
  bins: CalibrationBin[];
  accuracy: number;
  n: number;
}

/**
 * Expected calibration error with `bins` equal-width bins (lo, hi] — the first is [0, 1/B] — so a
 * confidence of exactly 1.0 lands in the last bin: ECE = Σ_b n_b/n·|acc_b − conf_b|.
 */
export function calibration(confidence: ArrayLike<number>, correct: ArrayLike<number | boolean>, bins = 20): Calibration {
  if (confidence.length !== correct.length) throw new RangeError(`calibration: ${confidence.length} confidences but ${correct.length} outcomes`);
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`calibration: bins must be a positive integer, got ${bins}`);
  const n = confidence.length;
  const count = new Float64Array(bins);
  const acc = new Float64Array(bins);
  const conf = new Float64Array(bins);
  let right = 0;
  for (let i = 0; i < n; i++) {
    const c = Number(confidence[i]);
    if (!(c >= 0 && c <= 1)) throw new RangeError(`calibration: confidence ${c} at ${i} is outside [0, 1]`);
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1));
    const ok = Number(correct[i]) ? 1 : 0;
    count[b]++;
    acc[b] += ok;
    conf[b] += c;
    right += ok;
  }
  let ece = 0;
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++) {
    if (count[b]) ece += (count[b] / n) * Math.abs(acc[b] / count[b] - conf[b] / count[b]);
    out.push({ lo: b / bins, hi: (b + 1) / bins, count: count[b], accuracy: count[b] ? acc[b] / count[b] : NaN, confidence: count[b] ? conf[b] / count[b] : NaN });
  }
  return { ece, bins: out, accuracy: n ? right / n : NaN, n };
}

/** A reliability diagram (accuracy and mean confidence per bin against the diagonal). */
export async function saveReliabilityDiagram(path: string, cal: Calibration, title = 'reliability'): Promise<void> {
  const used = cal.bins.filter((b) => b.count > 0);
  await savePlot(path, [
    { name: 'accuracy', x: used.map((b) => (b.lo + b.hi) / 2), y: used.map((b) => b.accuracy), points: true },
    { name: 'confidence', x: used.map((b) => (b.lo + b.hi) / 2), y: used.map((b) => b.confidence), points: true, color: [150, 150, 150] },
  ], { title: `${title} (ECE ${(100 * cal.ece).toFixed(2)}%)`, xLabel: 'confidence', yLabel: 'accuracy', xRange: [0, 1], yRange: [0, 1], diagonal: true });
}

/** Area under the ROC curve for "positives score higher" (Mann–Whitney U, ties count ½). */
export function auroc(positive: ArrayLike<number>, negative: ArrayLike<number>): number {
  const np = positive.length;
  const nn = negative.length;
  if (!np || !nn) throw new RangeError('auroc: need at least one positive and one negative score');
  const all = [...Array.from(positive, (v) => [v, 1] as const), ...Array.from(negative, (v) => [v, 0] as const)];
  if (all.some(([v]) => Number.isNaN(v))) throw new RangeError('auroc: NaN score');
  all.sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1][0] === all[i][0]) j++;
    const rank = (i + j) / 2 + 1; // average rank of the tie group
    for (let k = i; k <= j; k++) if (all[k][1]) rankSum += rank;
    i = j + 1;
  }
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
}

export interface OodScores {
  /** log p(x) up to a constant: −E(x) = logsumexp f(x). */
  px: Float64Array;
  /** max_y p(y|x). */
  py: Float64Array;
  /** −‖∂ log p(x)/∂x‖₂ (the paper's gradient score; higher = more in-distribution). */
  pxgrad: Float64Array;
}

/** The three OOD scores of the paper for a batch, in eval mode. */
export function oodScores(model: Classifier, x: Tensor): OodScores {
  const was = model.training;
  model.eval();
  try {
    const { energy, grad: g } = energyGrad(model, x);
    const out = tidy(() => ({
      px: energy.neg().toFloat64Array(),
      py: noGrad(() => F.softmax(model.forward(x), 1).amax(1)).toFloat64Array(),
      pxgrad: g.flatten(1).norm(2, 1).neg().toFloat64Array(),
    }));
    energy.dispose();
    g.dispose();
    return out;
  } finally {
    model.train(was);
  }
}

/** Scores over a data set (inputs optionally noised as the official test transform, σ = 0.03). */
export function datasetScores(model: Classifier, data: ImageDataset | Tensor, opts: { batchSize?: number; noise?: number; generator?: Generator } = {}): OodScores {
  const parts: OodScores[] = [];
  const bs = opts.batchSize ?? 128;
  const batches: Tensor[] = [];
  if ('batches' in data) {
    for (const { x, y } of data.batches({ batchSize: bs, shuffle: false, augment: opts.noise ? { noise: opts.noise } : undefined, generator: opts.generator })) {
      y.dispose();
      batches.push(x);
    }
  } else {
    for (let s = 0; s < data.shape[0]; s += bs) batches.push(data.slice(0, s, Math.min(s + bs, data.shape[0])));
  }
  for (const x of batches) {
    parts.push(oodScores(model, x));
    x.dispose();
  }
  const join = (k: keyof OodScores) => Float64Array.from(parts.flatMap((p) => Array.from(p[k])));
  return { px: join('px'), py: join('py'), pxgrad: join('pxgrad') };
}

/** Offline OOD sets built from an in-distribution test tensor x [N, C, H, W] in [−1, 1]. */
export function oodSets(x: Tensor, generator?: Generator): Record<'uniform' | 'gaussian' | 'interp' | 'inverted' | 'vflip', Tensor> {
  return tidy(() => {
    const n = x.shape[0];
    const prev = cat([x.slice(0, n - 1), x.slice(0, 0, n - 1)]); // x_{i−1}, cyclically
    return {
      uniform: rand(x.shape, { generator }).mul(2).sub(1),
      gaussian: randn(x.shape, { generator }).clamp(-1, 1),
      interp: x.add(prev).mul(0.5), // the paper's "interp": mixes of consecutive test images
      inverted: x.neg(),
      vflip: x.flip(2),
    };
  });
}

/**
 * JEM-n (the paper's defence): each image duplicated into `chains` copies with N(0, noise²) added,
 * `sgldSteps` SGLD steps, logits averaged over the copies. Gradients pass straight through the
 * refinement (BPDA-identity, as the official attack code does).
 */
export interface SgldDefense {
  sgldSteps: number;
  /** Default 5. */
  chains?: number;
  /** Default 0.03. */
  noise?: number;
  generator?: Generator;
}

/** Logits of the defended classifier (or plain logits without a defence). */
export function defendedLogits(model: Classifier, x: Tensor, d?: SgldDefense): Tensor {
  if (!d || d.sgldSteps === 0) return model.forward(x);
  return tidy(() => {
    const chains = d.chains ?? 5;
    const n = x.shape[0];
    const xs = x.repeat(chains, 1, 1, 1).add(randn([n * chains, ...x.shape.slice(1)], { generator: d.generator }).mul(d.noise ?? 0.03));
    const refined = sgld(model, xs.detach(), { steps: d.sgldSteps, generator: d.generator });
    const through = xs.add(refined.sub(xs).detach()); // identity gradient through the chain
    const logits = model.forward(through);
    return logits.reshape([chains, n, logits.shape[1]]).mean(0);
  });
}

export interface PgdOptions {
  norm: 'linf' | 'l2';
  /** Radii in pixel units of [0, 1] images (doubled internally: the model sees [−1, 1]). */
  eps: number[];
  /** Iterations (default 20) and step size as a fraction of ε (default 2.5/steps, Madry et al.). */
  steps?: number;
  stepFraction?: number;
  /** Random restarts (default 1); an image counts as robust only if every restart fails. */
  restarts?: number;
  batchSize?: number;
  generator?: Generator;
  /** Attack and evaluate the JEM-n defended classifier. */
  defense?: SgldDefense;
}

export interface PgdResult {
  norm: 'linf' | 'l2';
  eps: number[];
  /** Robust accuracy per ε (ε = 0 is clean accuracy). */
  accuracy: number[];
  n: number;
}

function project(delta: Tensor, eps: number, norm: 'linf' | 'l2'): Tensor {
  if (norm === 'linf') return delta.clamp(-eps, eps);
  const nrm = delta.flatten(1).norm(2, 1).clamp(1e-12).reshape([-1, ...delta.shape.slice(1).map(() => 1)]);
  return delta.mul(nrm.reciprocal().mul(eps).clamp(undefined, 1));
}

/** A random point in the ε-ball: uniform per coordinate (L∞), or a uniform direction at radius ε·U[0, 1] (L2). */
function randomStart(shape: readonly number[], eps: number, norm: 'linf' | 'l2', g?: Generator): Tensor {
  return tidy(() => {
    if (norm === 'linf') return rand(shape, { generator: g }).mul(2).sub(1).mul(eps);
    const d = randn(shape, { generator: g });
    const unit = d.div(d.flatten(1).norm(2, 1).clamp(1e-12).reshape([-1, ...shape.slice(1).map(() => 1)]));
    return unit.mul(rand([shape[0], ...shape.slice(1).map(() => 1)], { generator: g }).mul(eps));
  });
}

/** One PGD step on the cross-entropy: ascend, project to the ε-ball, stay in the [−1, 1] box. */
export function pgdStep(model: Classifier, x0: Tensor, x: Tensor, y: Tensor, eps: number, alpha: number, norm: 'linf' | 'l2', defense?: SgldDefense): Tensor {
  return tidy(() => {
    const xi = x.detach().requiresGrad_();
    const [g] = grad(F.crossEntropy(defendedLogits(model, xi, defense), y, { reduction: 'sum' }), xi);
    const dir = norm === 'linf' ? g!.sign() : g!.div(g!.flatten(1).norm(2, 1).clamp(1e-12).reshape([-1, ...g!.shape.slice(1).map(() => 1)]));
    const moved = x.detach().add(dir.mul(alpha));
    return x0.add(project(moved.sub(x0), eps, norm)).clamp(-1, 1);
  });
}

/** Accuracy under PGD for each ε on a data set (eval mode). */
export function pgdAccuracy(model: Classifier, data: ImageDataset, o: PgdOptions): PgdResult {
  const steps = o.steps ?? 20;
  const restarts = o.restarts ?? 1;
  const was = model.training;
  model.eval();
  const robust = new Float64Array(o.eps.length);
  try {
    for (const { x, y } of data.batches({ batchSize: o.batchSize ?? 100, shuffle: false })) {
      for (const [k, e] of o.eps.entries()) {
        const eps = 2 * e;
        const ok = tidy(() => {
          const predict = (xx: Tensor) => noGrad(() => defendedLogits(model, xx, o.defense).argmax(1).eq(y));
          let still = predict(x);
          if (eps === 0) return still.sum().item();
          const alpha = eps * (o.stepFraction ?? 2.5 / steps);
          for (let r = 0; r < restarts; r++) {
            const start = randomStart(x.shape, eps, o.norm, o.generator);
            let xa = x.add(start).clamp(-1, 1);
            for (let s = 0; s < steps; s++) xa = pgdStep(model, x, xa, y, eps, alpha, o.norm, o.defense);
            still = still.logicalAnd(predict(xa));
          }
          return still.sum().item();
        });
        robust[k] += ok;
      }
      x.dispose();
      y.dispose();
    }
  } finally {
    model.train(was);
  }
  return { norm: o.norm, eps: o.eps, accuracy: Array.from(robust, (v) => v / data.size), n: data.size };
}

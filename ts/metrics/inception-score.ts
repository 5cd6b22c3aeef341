// Inception Score (Salimans et al. 2016) as improved-gan's reference code computes it: softmax over
// all the logits (1008 for the FID Inception: dropping the 8 unused classes changes the third
// decimal), N samples cut into contiguous splits [i·N/k, (i+1)·N/k), per split
// exp(mean_x KL(p(y|x) ‖ p(y))), reported as the mean and the standard deviation (ddof 0) over
// splits. float64 throughout; p·log p uses log-softmax, so an exactly-zero probability adds 0
// (numpy's reference gives NaN there, e.g. for the huge logits of random weights).
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

export interface InceptionScoreResult {
  mean: number;
  std: number;
  splits: number[];
}

/** IS from logits [N, C] (any classifier; only the FID Inception's 1008 logits give comparable numbers). */
export function inceptionScore(logits: Tensor, opts: { splits?: number } = {}): InceptionScoreResult {
  const k = opts.splits ?? 10;
  if (logits.shape.length !== 2) throw new RangeError(`inceptionScore: logits must be [N, classes], got [${logits.shape}]`);
  const n = logits.shape[0];
  if (!Number.isInteger(k) || k < 1 || k > n) throw new RangeError(`inceptionScore: splits must be an integer in [1, ${n}] (the sample count), got ${k}`);
  const splits = tidy(() => {
    const logp = logits.double().sub(logits.double().logsumexp(1, { keepdim: true }));
    const p = logp.exp();
    const out: number[] = [];
    for (let i = 0; i < k; i++) {
      const lo = Math.floor((i * n) / k);
      const hi = Math.floor(((i + 1) * n) / k);
      const part = p.slice(0, lo, hi);
      // A class no sample gives any probability (p underflowed to 0) has log p(y) = −∞; its terms are
      // 0·(…) and must count 0, so the log is kept finite.
      const logPy = part.mean(0, { keepdim: true }).log().clamp(-1e300);
      const kl = part.mul(logp.slice(0, lo, hi).sub(logPy)).sum(1).mean().item() as number;
      out.push(Math.exp(kl));
    }
    return out;
  });
  const mean = splits.reduce((a, b) => a + b, 0) / k;
  const std = Math.sqrt(splits.reduce((a, b) => a + (b - mean) ** 2, 0) / k);
  return { mean, std, splits };
}

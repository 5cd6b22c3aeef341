// JEM's replay buffer (persistent contrastive divergence): chains start from stored samples, 5% of
// them from fresh noise, and every final sample is written back where it came from. Official
// semantics: indices ~ U{0..N−1} (class-conditional: contiguous per-class chunks), re-init from
// U[−1, 1] with probability reinitFreq; JEM++'s per-class Gaussian initialisation as an option.
import { cat, full, rand, randint, randn, where } from '../tensor/creation.js';
import type { Generator } from '../tensor/generator.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** Per-class Gaussian initialisation (JEM++): x ~ N(mean[c], diag(std[c]²)) clamped to [−1, 1]. */
export interface GaussianInit {
  /** [classes, C, H, W] */
  mean: Tensor;
  /** [classes, C, H, W] */
  std: Tensor;
}

export interface ReplayBufferOptions {
  /** Number of stored samples (official 10,000). */
  size: number;
  /** One sample's shape [C, H, W]. */
  shape: readonly number[];
  /** Probability of starting a chain from fresh noise (official 0.05). */
  reinitFreq?: number;
  /** Class-conditional: `classes` contiguous chunks of size/classes. */
  classes?: number;
  /** Fresh samples from U[−1, 1] (default) or per-class Gaussians. */
  init?: GaussianInit;
  generator?: Generator;
}

export class ReplayBuffer {
  readonly size: number;
  readonly shape: number[];
  readonly reinitFreq: number;
  readonly classes: number | undefined;
  readonly init: GaussianInit | undefined;
  /** The stored samples [size, C, H, W]. */
  readonly data: Tensor;

  constructor(o: ReplayBufferOptions) {
    if (!Number.isInteger(o.size) || o.size < 1) throw new RangeError(`ReplayBuffer: size must be a positive integer, got ${o.size}`);
    if (o.classes !== undefined && (!Number.isInteger(o.classes) || o.classes < 1 || o.size % o.classes !== 0))
      throw new RangeError(`ReplayBuffer: size ${o.size} must be a multiple of classes ${o.classes}`);
    const f = o.reinitFreq ?? 0.05;
    if (!(f >= 0 && f <= 1)) throw new RangeError(`ReplayBuffer: reinitFreq must be in [0, 1], got ${f}`);
    if (o.init && o.init.mean.shape[0] < 1) throw new RangeError('ReplayBuffer: the Gaussian init needs a mean per class');
    this.size = o.size;
    this.shape = [...o.shape];
    this.reinitFreq = f;
    this.classes = o.classes;
    this.init = o.init;
    // A class-conditional buffer with a Gaussian init starts each chunk from its class.
    this.data = o.init && o.classes ? this.#chunkedGaussian(o.generator) : this.fresh(o.size, undefined, o.generator);
  }

  #chunkedGaussian(g?: Generator): Tensor {
    const chunk = this.size / this.classes!;
    const parts = Array.from({ length: this.classes! }, (_, c) => this.fresh(chunk, c, g));
    const all = cat(parts);
    for (const p of parts) p.dispose();
    return all;
  }

  /**
   * n fresh samples: U[−1, 1], or from the Gaussian init (class `y` — a number or int64 labels [n] —
   * or a random class per sample).
   */
  fresh(n: number, y?: number | Tensor, g?: Generator): Tensor {
    return tidy(() => {
      if (!this.init) return rand([n, ...this.shape], { generator: g }).mul(2).sub(1);
      const k = this.init.mean.shape[0];
      const cls = y === undefined ? randint(0, k, [n], { generator: g }) : typeof y === 'number' ? full([n], y, { dtype: 'int64' }) : y;
      const z = randn([n, ...this.shape], { generator: g });
      return this.init.mean.indexSelect(0, cls).add(this.init.std.indexSelect(0, cls).mul(z)).clamp(-1, 1);
    });
  }

  /**
   * Chain starts for a batch: { x, indices, y } — y drawn uniformly for a class-conditional buffer
   * when not given. Draw order (as the official code): indices, fresh samples, re-init coin flips.
   */
  sample(batch: number, opts: { y?: Tensor; generator?: Generator } = {}): { x: Tensor; indices: Tensor; y?: Tensor } {
    const g = opts.generator;
    return noGrad(() =>
      tidy(() => {
        let y = opts.y;
        let indices: Tensor;
        if (this.classes) {
          y ??= randint(0, this.classes, [batch], { generator: g });
          const chunk = this.size / this.classes;
          indices = y.mul(chunk).add(randint(0, chunk, [batch], { generator: g }));
        } else {
          indices = randint(0, this.size, [batch], { generator: g });
        }
        const stored = this.data.indexSelect(0, indices);
        const fresh = this.fresh(batch, this.init && y ? y : undefined, g);
        const reinit = rand([batch], { generator: g }).lt(this.reinitFreq).reshape([batch, ...this.shape.map(() => 1)]);
        return { x: where(reinit, fresh, stored), indices, y };
      }),
    );
  }

  /** Writes final chain states back (all of them, as the official code). */
  update(indices: Tensor, x: Tensor): void {
    noGrad(() => this.data.indexPut_([indices], x.detach().to(this.data.device)));
  }

  dispose(): void {
    this.data.dispose();
  }
}

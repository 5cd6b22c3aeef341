// In-memory image datasets (uint8, N×C×H×W) with labels, seeded shuffling, validation splits, and
// batches assembled natively in [-1, 1] with optional augmentation.
import { native } from '../tensor/binding.js';
import { fromBytes, pad, randperm, arange } from '../tensor/creation.js';
import type { Generator } from '../tensor/generator.js';
import { Tensor } from '../tensor/tensor.js';

export interface Augmentation {
  /** Random horizontal flips (p = 0.5). */
  flip?: boolean;
  /** Reflect-pad by this many pixels, then crop back at a random offset (JEM: 4). */
  cropPad?: number;
  /** Add N(0, σ²) noise after scaling (JEM: 0.03). */
  noise?: number;
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffle every pass (default true); needs the generator for reproducibility. */
  shuffle?: boolean;
  generator?: Generator;
  /** Drop a last partial batch (default false). */
  dropLast?: boolean;
  augment?: Augmentation;
}

export interface Batch {
  /** float32 [B, C, H, W] in [-1, 1]. */
  x: Tensor;
  /** int64 [B] labels. */
  y: Tensor;
}

export class ImageDataset {
  constructor(
    /** uint8 [N, C, H, W]. */
    readonly images: Tensor,
    /** int64 [N]. */
    readonly labels: Tensor,
    readonly name = 'dataset',
  ) {
    if (images.dtype !== 'uint8' || images.ndim !== 4) throw new TypeError(`${name}: images must be uint8 [N, C, H, W], got ${images.dtype} [${images.shape}]`);
    if (labels.dtype !== 'int64' || labels.ndim !== 1 || labels.shape[0] !== images.shape[0])
      throw new TypeError(`${name}: labels must be int64 [${images.shape[0]}], got ${labels.dtype} [${labels.shape}]`);
  }

  /** Builds a dataset from raw bytes (N×C×H×W uint8) and label bytes. */
  static fromBytes(pixels: Uint8Array, shape: [number, number, number, number], labels: Uint8Array, name?: string): ImageDataset {
    const images = fromBytes(pixels, shape, 'uint8');
    const y = fromBytes(labels, [labels.length], 'uint8');
    const y64 = y.to('int64');
    y.dispose();
    return new ImageDataset(images, y64, name);
  }

  get size(): number {
    return this.images.shape[0];
  }
  /** [C, H, W]. */
  get imageShape(): number[] {
    return this.images.shape.slice(1);
  }

  /** A subset by indices (int64 tensor or numbers). */
  subset(indices: Tensor | number[], name = this.name): ImageDataset {
    const idx = Array.isArray(indices) ? int64Tensor(indices) : indices;
    try {
      return new ImageDataset(this.images.indexSelect(0, idx), this.labels.indexSelect(0, idx), name);
    } finally {
      if (Array.isArray(indices)) idx.dispose();
    }
  }

  /** A seeded random split: [rest, valid] with `validSize` images in valid. */
  split(validSize: number, generator?: Generator): [ImageDataset, ImageDataset] {
    if (!Number.isInteger(validSize) || validSize <= 0 || validSize >= this.size) throw new RangeError(`split: validSize must be in [1, ${this.size - 1}], got ${validSize}`);
    const perm = randperm(this.size, { generator });
    const valid = perm.slice(0, 0, validSize);
    const rest = perm.slice(0, validSize);
    try {
      return [this.subset(rest, `${this.name}/train`), this.subset(valid, `${this.name}/valid`)];
    } finally {
      for (const t of [perm, valid, rest]) t.dispose();
    }
  }

  /** The images whose label is (keep = true) or is not (keep = false) in `classes`: held-out-class splits. */
  byClasses(classes: readonly number[], keep = true): ImageDataset {
    const labels = this.labels.toArray() as BigInt64Array;
    const want = new Set(classes.map((c) => BigInt(c)));
    const idx: number[] = [];
    labels.forEach((c, i) => {
      if (want.has(c) === keep) idx.push(i);
    });
    if (!idx.length) throw new RangeError(`${this.name}: no images ${keep ? 'in' : 'outside'} classes ${classes.join(', ')}`);
    return this.subset(idx, `${this.name}/${keep ? '' : 'not-'}classes-${classes.join('-')}`);
  }

  /** The first n images (for quick runs). */
  take(n: number): ImageDataset {
    const idx = arange(Math.min(n, this.size));
    try {
      return this.subset(idx);
    } finally {
      idx.dispose();
    }
  }

  /**
   * One pass over the data in batches. The caller owns (and disposes) each batch's tensors; the
   * iterator disposes nothing the caller holds.
   */
  *batches(opts: BatchOptions): IterableIterator<Batch> {
    const { batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`batches: batchSize must be a positive integer, got ${batchSize}`);
    const order = opts.shuffle ?? true ? randperm(this.size, { generator: opts.generator }) : arange(this.size);
    try {
      for (let start = 0; start < this.size; start += batchSize) {
        const end = Math.min(start + batchSize, this.size);
        if (end - start < batchSize && opts.dropLast) break;
        const idx = order.slice(0, start, end);
        let x = new Tensor(native.imageBatch(this.images.native, idx.native));
        const y = this.labels.indexSelect(0, idx);
        idx.dispose();
        const a = opts.augment;
        if (a && (a.flip || a.cropPad || a.noise)) {
          const aug = new Tensor(native.augment(x.native, !!a.flip, a.cropPad ?? 0, a.noise ?? 0, opts.generator?.native));
          x.dispose();
          x = aug;
        }
        yield { x, y };
      }
    } finally {
      order.dispose();
    }
  }

  /** Augments a batch (flip / reflect-pad crop / noise) with an explicit generator; returns a new tensor. */
  augmentBatch(x: Tensor, a: Augmentation, generator?: Generator): Tensor {
    return new Tensor(native.augment(x.native, !!a.flip, a.cropPad ?? 0, a.noise ?? 0, generator?.native));
  }

  /** Zero-pads every image by `p` pixels on each side (28×28 → 32×32 with p = 2). */
  padded(p: number): ImageDataset {
    return new ImageDataset(pad(this.images, [p, p, p, p]), this.labels.clone(), this.name);
  }

  dispose(): void {
    this.images.dispose();
    this.labels.dispose();
  }
}

function int64Tensor(xs: number[]): Tensor {
  return fromBytes(new Uint8Array(new BigInt64Array(xs.map(BigInt)).buffer), [xs.length], 'int64');
}

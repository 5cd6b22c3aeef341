// Features for FD and KID: a feature network, a stream of image batches, statistics (and, for KID,
// the features themselves). Batches flow one at a time, so 50k samples never sit in memory as
// images; each forward runs on a worker thread, so progress keeps flowing.
//
// The offline domain metric is FD-FMNIST: the penultimate (globally pooled, 128-d) features of the
// WRN-10-2 classifier that langevin's own classifier trainer produced on Fashion-MNIST
// (artifacts/fmnist-wrn10-2-classifier: recipe and command in its summary.json, test accuracy
// 89.58%). It is not FID: Inception features of ImageNet photos and these are different spaces, and
// the numbers are not comparable with any published FID.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageDataset } from '../data/dataset.js';
import { loadModel } from '../nn/weights.js';
import { WideResNet } from '../nn/wideresnet.js';
import { cat, randperm } from '../tensor/creation.js';
import { Generator } from '../tensor/generator.js';
import { noGrad } from '../tensor/autograd.js';
import { FidInceptionV3, loadFidInception } from '../nn/inception.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { FeatureStats, type FeatureMoments } from './stats.js';

/** The shipped FD-FMNIST network: file, digest and what it was measured at. */
export const FMNIST_FEATURE_NET = {
  metric: 'FD-FMNIST',
  file: 'artifacts/fmnist-wrn10-2-classifier/model.safetensors',
  sha256: '80e2fac8468dc09e3d475eb0f5f74633f101446c1ea126d091211d7a759a59e2',
  model: 'wrn10-2 (no normalisation), 1×32×32 inputs in [-1, 1] (Fashion-MNIST padded by 2)',
  features: 'penultimate: global average pool after the last leaky ReLU, 128-d',
  testAccuracy: 0.8958,
} as const;

/** A feature network for FD/KID (and logits for IS), and where its weights came from. */
export interface FeatureNetwork {
  /** The FD name to print: 'FD-FMNIST' (the shipped classifier), 'FD-custom' (other WRN weights), 'FID' (Inception). */
  metric: string;
  /** The IS name: 'IS-FMNIST' (a 10-class analogue, at most 10), 'IS-custom' or 'IS' (Inception, 1008 classes). */
  isMetric: string;
  file: string;
  sha256: string;
  /** Features [B, d] (and logits [B, classes] when asked) of uint8 (0–255) or [-1, 1] float images. */
  run(images: Tensor, withLogits: boolean): Promise<{ features: Tensor; logits?: Tensor }>;
  dispose(): void;
}

async function digest(file: string, help: string): Promise<string> {
  try {
    return createHash('sha256').update(await readFile(file)).digest('hex');
  } catch (e) {
    throw new RangeError(`feature network ${file} cannot be read (${(e as Error).message})${help}`);
  }
}

/** The shipped file's path inside the installed package. */
export function fmnistFeatureNetPath(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', FMNIST_FEATURE_NET.file);
}

/**
 * Opens a feature network: the shipped FD-FMNIST classifier by default, or any WRN weights file
 * (its scores are then labelled 'FD-custom'). The shipped file is checked against its digest.
 */
export async function openFeatureNetwork(path?: string): Promise<FeatureNetwork & { model: WideResNet }> {
  const file = path ?? fmnistFeatureNetPath();
  const sha256 = await digest(file, path ? '' : '; it ships with langevin under ' + FMNIST_FEATURE_NET.file);
  const shipped = sha256 === FMNIST_FEATURE_NET.sha256;
  if (!path && !shipped) throw new RangeError(`${file}: sha256 ${sha256} is not the shipped FD-FMNIST network's (${FMNIST_FEATURE_NET.sha256}); the file was changed`);
  const model = await loadModel(file);
  if (!(model instanceof WideResNet)) {
    model.dispose();
    throw new RangeError(`${file}: a feature network must be a Wide-ResNet classifier, this is a U-Net`);
  }
  model.eval();
  const { inChannels: c, resolution: r } = model.config;
  const metric = shipped ? FMNIST_FEATURE_NET.metric : 'FD-custom';
  return {
    model,
    metric,
    isMetric: shipped ? 'IS-FMNIST' : 'IS-custom',
    file: path ?? FMNIST_FEATURE_NET.file, // provenance: the package-relative name, not this machine's path
    sha256,
    async run(images, withLogits) {
      if (images.ndim !== 4 || images.shape[1] !== c || images.shape[2] !== r || images.shape[3] !== r)
        throw new RangeError(`extractFeatures: images must be [B, ${c}, ${r}, ${r}] for ${metric}'s network, got [${images.shape}]`);
      const x = images.dtype === 'uint8' ? tidy(() => images.float().div(127.5).sub(1)) : images.float();
      try {
        const features = await model.featuresAsync(x);
        return { features, logits: withLogits ? tidy(() => model.class_output.forward(features)) : undefined };
      } finally {
        x.dispose();
      }
    },
    dispose: () => model.dispose(),
  };
}

/**
 * The FID Inception-v3 as a feature network (pool3, 2048-d; IS logits over 1008 classes) from a
 * safetensors conversion of pytorch-fid's weights (see `loadFidInception`).
 */
export async function openInceptionNetwork(path: string): Promise<FeatureNetwork & { model: FidInceptionV3 }> {
  const model = await loadFidInception(path);
  const sha256 = await digest(path, '');
  return {
    model,
    metric: 'FID',
    isMetric: 'IS',
    file: path,
    sha256,
    async run(images, withLogits) {
      const o = noGrad(() => model.outputs(images));
      if (!withLogits) o.logitsUnbiased.dispose();
      return { features: o.pool, logits: withLogits ? o.logitsUnbiased : undefined };
    },
    dispose: () => model.dispose(),
  };
}

/** Image batches: uint8 [B, C, H, W] (0–255) or float [B, C, H, W] in [-1, 1]. */
export type ImageBatches = Iterable<Tensor> | AsyncIterable<Tensor>;

export interface ExtractOptions {
  /** Also return every feature vector (float32 [N, d]; KID needs them). */
  keepFeatures?: boolean;
  /** Also return the classifier's logits (float32 [N, classes]; the IS analogue needs them). */
  keepLogits?: boolean;
  onProgress?: (done: number) => void;
  signal?: AbortSignal;
}

export interface Extracted {
  moments: FeatureMoments;
  features?: Tensor;
  logits?: Tensor;
  count: number;
}

/** Runs the network over the batches; batches are disposed as they are consumed. */
export async function extractFeatures(net: FeatureNetwork, batches: ImageBatches, opts: ExtractOptions = {}): Promise<Extracted> {
  const stats = new FeatureStats();
  const kept: Tensor[] = [];
  const keptLogits: Tensor[] = [];
  let done = 0;
  try {
    for await (const batch of batches) {
      try {
        opts.signal?.throwIfAborted();
        const { features: f, logits } = await net.run(batch, !!opts.keepLogits);
        stats.add(f);
        if (logits) keptLogits.push(logits);
        if (opts.keepFeatures) kept.push(f);
        else f.dispose();
        done += batch.shape[0];
        opts.onProgress?.(done);
      } finally {
        batch.dispose();
      }
    }
    const moments = stats.moments({ metric: net.metric, network: net.file, sha256: net.sha256, count: done });
    const joined = (xs: Tensor[]) => (xs.length ? tidy(() => cat(xs)) : undefined);
    return { moments, features: joined(kept), logits: joined(keptLogits), count: done };
  } finally {
    stats.dispose();
    for (const t of [...kept, ...keptLogits]) t.dispose();
  }
}

/** A data set's images in order (or a seeded random subset of `count`), as uint8 batches. */
export function* datasetImages(ds: ImageDataset, opts: { batchSize?: number; count?: number; seed?: number } = {}): IterableIterator<Tensor> {
  const bs = opts.batchSize ?? 250;
  const n = Math.min(opts.count ?? ds.size, ds.size);
  const order = n < ds.size ? randperm(ds.size, { generator: new Generator(opts.seed ?? 0) }).slice(0, 0, n) : undefined;
  try {
    for (let s = 0; s < n; s += bs) {
      const e = Math.min(s + bs, n);
      yield order ? tidy(() => ds.images.indexSelect(0, order.slice(0, s, e))) : ds.images.slice(0, s, e).clone();
    }
  } finally {
    order?.dispose();
  }
}

/** Slices a tensor of images [N, C, H, W] into batches (copies; the source is left alone). */
export function* tensorImages(images: Tensor, batchSize = 250): IterableIterator<Tensor> {
  for (let s = 0; s < images.shape[0]; s += batchSize) yield images.slice(0, s, Math.min(s + batchSize, images.shape[0])).clone();
}

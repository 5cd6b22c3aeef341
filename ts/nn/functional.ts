// Functional neural-network ops over Tensors (autograd-capable), PyTorch's F.* with camelCase.
import { native } from '../tensor/binding.js';
import type { Generator } from '../tensor/generator.js';
import { Tensor } from '../tensor/tensor.js';

type Pair = number | [number, number];
const pair = (p: Pair): number[] => (typeof p === 'number' ? [p, p] : [...p]);

export interface Conv2dOptions {
  stride?: Pair;
  /** n, [h, w], or asymmetric [top, bottom, left, right] (padded with zeros before the convolution). */
  padding?: number | [number, number] | [number, number, number, number];
  dilation?: Pair;
  groups?: number;
}

/** 2-d convolution: x [N, C, H, W], weight [O, C/groups, kH, kW]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const padding = opts.padding === undefined ? 0 : typeof opts.padding === 'number' ? opts.padding : [...opts.padding];
  return new Tensor(native.conv2d(x.native, weight.native, bias?.native, pair(opts.stride ?? 1), padding, pair(opts.dilation ?? 1), opts.groups ?? 1));
}

/** x Wᵀ + b over the last dim. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return new Tensor(native.linear(x.native, weight.native, bias?.native));
}

export function groupNorm(x: Tensor, groups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return new Tensor(native.groupNorm(x.native, groups, weight?.native, bias?.native, eps));
}

export interface BatchNormOptions {
  runningMean?: Tensor;
  runningVar?: Tensor;
  weight?: Tensor;
  bias?: Tensor;
  /** Batch statistics (and running-stat updates, in place) when true; running stats when false. */
  training: boolean;
  /** PyTorch convention: running = (1 − momentum)·running + momentum·batch. Default 0.1. */
  momentum?: number;
  eps?: number;
}

export function batchNorm(x: Tensor, opts: BatchNormOptions): Tensor {
  return new Tensor(
    native.batchNorm(x.native, opts.runningMean?.native, opts.runningVar?.native, opts.weight?.native, opts.bias?.native, opts.training, opts.momentum ?? 0.1, opts.eps ?? 1e-5),
  );
}

/** Zeroes elements with probability p (seeded by `generator`) and scales the rest by 1/(1−p). */
export function dropout(x: Tensor, p: number, opts: { training?: boolean; generator?: Generator } = {}): Tensor {
  return new Tensor(native.dropout(x.native, p, opts.training ?? true, opts.generator?.native));
}

export const relu = (x: Tensor): Tensor => x.relu();
export const silu = (x: Tensor): Tensor => x.silu();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
export const tanh = (x: Tensor): Tensor => x.tanh();
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return new Tensor(native.leakyRelu(x.native, negativeSlope));
}
/** log(1 + exp(βx))/β, linear above `threshold`/β (PyTorch's numerics). */
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  return new Tensor(native.softplus(x.native, beta, threshold));
}
export function softmax(x: Tensor, dim = -1): Tensor {
  return new Tensor(native.softmax(x.native, dim));
}
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return new Tensor(native.logSoftmax(x.native, dim));
}

export interface PoolOptions {
  /** Default: the kernel size. */
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}

/** Average pooling; countIncludePad=false divides by the number of real (unpadded) elements. */
export function avgPool2d(x: Tensor, kernel: Pair, opts: PoolOptions & { countIncludePad?: boolean } = {}): Tensor {
  return new Tensor(native.avgPool2d(x.native, pair(kernel), opts.stride === undefined ? undefined : pair(opts.stride), pair(opts.padding ?? 0), opts.ceilMode ?? false, opts.countIncludePad ?? true));
}
export function maxPool2d(x: Tensor, kernel: Pair, opts: PoolOptions & { dilation?: Pair } = {}): Tensor {
  return new Tensor(native.maxPool2d(x.native, pair(kernel), opts.stride === undefined ? undefined : pair(opts.stride), pair(opts.padding ?? 0), pair(opts.dilation ?? 1), opts.ceilMode ?? false));
}
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  return new Tensor(native.adaptiveAvgPool2d(x.native, pair(outputSize)));
}
/** Nearest-neighbour upsampling by an integer factor (×2 in the U-Net). */
export function upsampleNearest(x: Tensor, scale = 2): Tensor {
  return new Tensor(native.upsampleNearest(x.native, scale));
}
/** Bilinear resize to [h, w] (alignCorners false by default, as pytorch-fid's 299×299 resize). */
export function resizeBilinear(x: Tensor, size: Pair, opts: { alignCorners?: boolean } = {}): Tensor {
  return new Tensor(native.resizeBilinear(x.native, pair(size), opts.alignCorners ?? false));
}

/**
 * Scaled dot-product attention softmax(q kᵀ · scale) v over the last two dims.
 * scale defaults to 1/√d. mask: bool (true = attend) or additive float.
 * libtorch ≥ 2.1 runs the fused kernel; 1.13 runs matmul + softmax.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: { mask?: Tensor; scale?: number } = {}): Tensor {
  return new Tensor(native.attention(q.native, k.native, v.native, opts.mask?.native, opts.scale));
}

export type Reduction = 'mean' | 'sum' | 'none';

/** Cross-entropy of logits [N, C] against int64 class indices [N]. */
export function crossEntropy(logits: Tensor, target: Tensor, opts: { reduction?: Reduction; labelSmoothing?: number } = {}): Tensor {
  return new Tensor(native.crossEntropy(logits.native, target.native, opts.reduction ?? 'mean', opts.labelSmoothing ?? 0));
}
export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  return new Tensor(native.mseLoss(input.native, target.native, opts.reduction ?? 'mean'));
}

/**
 * The sinusoidal timestep embedding of the original DDPM code: for t [N] → [N, dim] float32 with
 * [sin(t·f_i), cos(t·f_i)], f_i = exp(−ln(maxPeriod)·i/(dim/2 − 1)); zero-padded for odd dim.
 */
export function timestepEmbedding(t: Tensor, dim: number, maxPeriod = 10000): Tensor {
  return new Tensor(native.timestepEmbedding(t.native, dim, maxPeriod));
}

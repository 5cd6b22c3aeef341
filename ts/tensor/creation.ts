// Creating tensors: from data, constant fills, ranges and random draws.
import { native } from './binding.js';
import type { AnyTypedArray, Device, DType } from './dtype.js';
import type { Generator } from './generator.js';
import { Tensor } from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
}

export interface RandomOptions extends CreateOptions {
  /** The random stream; the default generator (see manualSeed) when omitted. */
  generator?: Generator;
}

type NestedNumbers = number | boolean | NestedNumbers[];

function inferShape(data: NestedNumbers): number[] {
  const shape: number[] = [];
  let cur: NestedNumbers = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as NestedNumbers;
  }
  return shape;
}

function flatten(data: NestedNumbers, shape: number[], depth: number, out: number[]): void {
  if (depth === shape.length) {
    if (typeof data === 'boolean') out.push(data ? 1 : 0);
    else if (typeof data === 'number') out.push(data);
    else throw new TypeError(`tensor: expected a number at depth ${depth}, got ${Array.isArray(data) ? 'an array' : typeof data}`);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth])
    throw new RangeError(`tensor: ragged nested array (expected length ${shape[depth]} at depth ${depth})`);
  for (const d of data) flatten(d, shape, depth + 1, out);
}

/**
 * Creates a tensor by copying data: a typed array with a shape, or (for small data) nested
 * number arrays. Float32Array → float32, Float64Array → float64, BigInt64Array → int64,
 * Int32Array → int32, Uint8Array → uint8; `dtype` converts (a Uint16Array needs dtype bfloat16/float16).
 */
export function tensor(data: AnyTypedArray | NestedNumbers, shape?: readonly number[], opts: CreateOptions = {}): Tensor {
  let arr: AnyTypedArray;
  let dims: number[];
  if (ArrayBuffer.isView(data)) {
    arr = data;
    dims = shape ? [...shape] : [data.length];
  } else {
    if (typeof data !== 'number' && typeof data !== 'boolean' && !Array.isArray(data))
      throw new TypeError(`tensor: data must be a typed array, a number or nested arrays of numbers, got ${typeof data}`);
    dims = inferShape(data);
    const flat: number[] = [];
    flatten(data, dims, 0, flat);
    arr = opts.dtype === 'float64' ? Float64Array.from(flat) : Float32Array.from(flat);
    if (shape) dims = [...shape];
  }
  let t = new Tensor(native.fromArray(arr, dims, opts.dtype));
  if (opts.device && opts.device !== 'cpu') {
    const moved = t.to(opts.device);
    t.dispose();
    t = moved;
  }
  return t;
}

/** A tensor from raw little-endian element bytes (copied). */
export function fromBytes(bytes: Uint8Array, shape: readonly number[], dtype: DType): Tensor {
  return new Tensor(native.fromBytes(bytes, [...shape], dtype));
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  return new Tensor(native.full([...shape], value, opts.dtype, opts.device));
}
export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}
export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}
/** Uninitialised memory: fast, for buffers that are written before they are read. */
export function empty(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return new Tensor(native.empty([...shape], opts.dtype, opts.device));
}
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return zeros(t.shape, { dtype: opts.dtype ?? t.dtype, device: opts.device ?? t.device });
}
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return ones(t.shape, { dtype: opts.dtype ?? t.dtype, device: opts.device ?? t.device });
}
export function fullLike(t: Tensor, value: number, opts: CreateOptions = {}): Tensor {
  return full(t.shape, value, { dtype: opts.dtype ?? t.dtype, device: opts.device ?? t.device });
}

/** U[0, 1) draws. */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return new Tensor(native.rand([...shape], opts.generator?.native, opts.dtype, opts.device));
}
/** N(0, 1) draws. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return new Tensor(native.randn([...shape], opts.generator?.native, opts.dtype, opts.device));
}
export function randnLike(t: Tensor, opts: RandomOptions = {}): Tensor {
  return randn(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}
/** Integers in [low, high) (int64 unless dtype says otherwise). */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return new Tensor(native.randint(low, high, [...shape], opts.generator?.native, opts.dtype, opts.device));
}
/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, opts: Omit<RandomOptions, 'dtype'> = {}): Tensor {
  return new Tensor(native.randperm(n, opts.generator?.native, opts.device));
}
/** 0/1 draws with per-element probabilities p (a tensor, or a number with a shape). */
export function bernoulli(p: Tensor | number, opts: RandomOptions & { shape?: readonly number[] } = {}): Tensor {
  if (typeof p === 'number') {
    const probs = full(opts.shape ?? [], p, { dtype: opts.dtype ?? 'float32', device: opts.device });
    try {
      return new Tensor(native.bernoulli(probs.native, opts.generator?.native));
    } finally {
      probs.dispose();
    }
  }
  return new Tensor(native.bernoulli(p.native, opts.generator?.native));
}

/** Values from start (inclusive) to end (exclusive) by step; arange(n) is 0..n-1. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  const intLike = Number.isInteger(s) && Number.isInteger(e) && Number.isInteger(step);
  return new Tensor(native.arange(s, e, step, opts.dtype ?? (intLike ? 'int64' : 'float32'), opts.device));
}
/** `steps` evenly spaced values from start to end, both included. */
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  return new Tensor(native.linspace(start, end, steps, opts.dtype, opts.device));
}
export function eye(n: number, opts: CreateOptions = {}): Tensor {
  return new Tensor(native.eye(n, opts.dtype, opts.device));
}

// ---- functions over several tensors ------------------------------------------------------
export function cat(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(native.cat(tensors.map((t) => t.native), dim));
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(native.stack(tensors.map((t) => t.native), dim));
}
/** Elementwise choice: condition ? a : b. */
export function where(condition: Tensor, a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return new Tensor(native.where(condition.native, a.native, b, true));
  return new Tensor(native.where(condition.native, a.native, b.native));
}
export function matmul(a: Tensor, b: Tensor): Tensor {
  return a.matmul(b);
}
/** Pairwise p-norm distances between the rows of x1 [.., P, M] and x2 [.., R, M] → [.., P, R]. */
export function cdist(x1: Tensor, x2: Tensor, p = 2): Tensor {
  return new Tensor(native.cdist(x1.native, x2.native, p));
}
/** Eigen-decomposition of symmetric matrices: eigenvalues ascending, eigenvectors as columns. */
export function eigh(a: Tensor, opts: { upper?: boolean } = {}): { eigenvalues: Tensor; eigenvectors: Tensor } {
  const [w, v] = native.eigh(a.native, opts.upper ?? false);
  return { eigenvalues: new Tensor(w), eigenvectors: new Tensor(v) };
}
/**
 * Pads the last dims, PyTorch's F.pad order ([left, right, top, bottom, …]).
 * mode 'constant' (with value), 'reflect' or 'replicate'.
 */
export function pad(t: Tensor, pads: number[], mode: 'constant' | 'reflect' | 'replicate' = 'constant', value = 0): Tensor {
  return new Tensor(native.pad(t.native, pads, mode, value));
}
/** Fills a tensor in place with U[low, high) draws (for initialisers). */
export function uniform_(t: Tensor, low: number, high: number, generator?: Generator): Tensor {
  native.uniformInPlace(t.native, low, high, generator?.native);
  return t;
}
/** Fills a tensor in place with N(mean, std²) draws. */
export function normal_(t: Tensor, mean: number, std: number, generator?: Generator): Tensor {
  native.normalInPlace(t.native, mean, std, generator?.native);
  return t;
}

// The Tensor class: a typed handle over one native tensor, with PyTorch's names and semantics.
import { native, type NativeTensor } from './binding.js';
import type { AnyTypedArray, Device, DType, MemoryFormat } from './dtype.js';
import { track } from './scope.js';

/** Dims for reductions: one dim, several, or all when omitted. */
export type Dims = number | number[];

export interface ReduceOptions {
  keepdim?: boolean;
}

export interface VarOptions extends ReduceOptions {
  /** 1 (default, unbiased) or 0. */
  correction?: 0 | 1;
}

export interface BackwardOptions {
  retainGraph?: boolean;
  createGraph?: boolean;
}

/** A pair of values and their indices (max/min along a dim, sort, topk). */
export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

function dimsList(d: Dims | undefined): number[] | undefined {
  return d === undefined ? undefined : typeof d === 'number' ? [d] : d;
}

function shapeArgs(args: (number | number[])[]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? args[0] : (args as number[]);
}

// Tensors the program forgets without dispose() are released after garbage collection.
const finalizer = new FinalizationRegistry<NativeTensor>((id) => native.release(id));

export class Tensor {
  /** The native tensor id. Internal: use the methods. */
  readonly native: NativeTensor;
  #shape: readonly number[] | undefined;
  #dtype: DType | undefined;

  /** Wraps a native id; every op result passes through here (so scopes can track it). */
  constructor(id: NativeTensor) {
    this.native = id;
    finalizer.register(this, id, this);
    track(this);
  }

  // ---- metadata ----------------------------------------------------------------------------
  get shape(): readonly number[] {
    return (this.#shape ??= Object.freeze(native.shape(this.native)));
  }
  get dtype(): DType {
    return (this.#dtype ??= native.dtype(this.native) as DType);
  }
  get device(): Device {
    return native.device(this.native) as Device;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return native.numel(this.native);
  }
  get isDisposed(): boolean {
    return native.isDisposed(this.native);
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.native);
  }
  get requiresGrad(): boolean {
    return native.requiresGrad(this.native);
  }
  set requiresGrad(on: boolean) {
    native.setRequiresGrad(this.native, on);
  }
  /** Sets requiresGrad and returns this (PyTorch's requires_grad_). */
  requiresGrad_(on = true): this {
    native.setRequiresGrad(this.native, on);
    return this;
  }
  size(dim?: number): number | readonly number[] {
    if (dim === undefined) return this.shape;
    const d = dim < 0 ? dim + this.ndim : dim;
    if (d < 0 || d >= this.ndim) throw new RangeError(`size: dim ${dim} is out of range for ${this.ndim} dimension(s)`);
    return this.shape[d];
  }
  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ---- memory ------------------------------------------------------------------------------
  /** Frees the native memory now. Idempotent. Throws if an async job is using the tensor. */
  dispose(): void {
    native.dispose(this.native);
    finalizer.unregister(this);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- data --------------------------------------------------------------------------------
  /** A copy of the elements in row-major order (bfloat16/float16 as raw Uint16 bits). */
  toArray(): AnyTypedArray {
    return native.toArray(this.native);
  }
  /** The raw little-endian bytes of the elements in row-major order (a copy). */
  toBytes(): Uint8Array {
    return native.toBytes(this.native);
  }
  /** The elements as float32 or float64 numbers (converting other dtypes). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return native.toArray(this.native) as Float32Array;
    const t = native.to(this.native, 'float32');
    try {
      return native.toArray(t) as Float32Array;
    } finally {
      native.dispose(t);
    }
  }
  toFloat64Array(): Float64Array {
    if (this.dtype === 'float64') return native.toArray(this.native) as Float64Array;
    const t = native.to(this.native, 'float64');
    try {
      return native.toArray(t) as Float64Array;
    } finally {
      native.dispose(t);
    }
  }
  /** Nested JS arrays of numbers (for small tensors, printing and tests). */
  toList(): unknown {
    const flat = Array.from(this.toFloat64Array());
    const build = (offset: number, dim: number): unknown => {
      if (dim === this.ndim) return flat[offset];
      const stride = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: this.shape[dim] }, (_, i) => build(offset + i * stride, dim + 1));
    };
    return build(0, 0);
  }
  /** The single element as a number (boolean for bool tensors). */
  item(): number {
    return native.item(this.native) as number;
  }

  // ---- conversion --------------------------------------------------------------------------
  /** Converts dtype and/or device (PyTorch's .to). Returns a new tensor even when nothing changes. */
  to(target: DType | Device | { dtype?: DType; device?: Device }): Tensor {
    if (typeof target === 'string') {
      const isDevice = target === 'cpu' || target.startsWith('cuda');
      return new Tensor(native.to(this.native, isDevice ? undefined : target, isDevice ? target : undefined));
    }
    return new Tensor(native.to(this.native, target.dtype, target.device));
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  bool(): Tensor {
    return this.to('bool');
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  cuda(): Tensor {
    return this.to('cuda');
  }
  clone(): Tensor {
    return new Tensor(native.clone(this.native));
  }
  /** A tensor sharing storage, cut from the autograd graph. */
  detach(): Tensor {
    return new Tensor(native.detach(this.native));
  }
  /**
   * This tensor in the given memory layout (a new handle; the data is copied only when the layout
   * differs): 'contiguous'
   * (row-major, NCHW for images; the default) or 'channelsLast' (NHWC strides, 4-d only — what
   * oneDNN's bf16/AMX convolutions and cuDNN's tensor cores prefer). Shape and values are unchanged.
   */
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return new Tensor(native.contiguous(this.native, memoryFormat));
  }
  get isContiguous(): boolean {
    return native.isContiguous(this.native);
  }
  /** Whether the strides are exactly those of `memoryFormat` (a 1×1 image can be both). */
  isContiguousAs(memoryFormat: MemoryFormat): boolean {
    return native.isContiguous(this.native, memoryFormat);
  }

  // ---- shape -------------------------------------------------------------------------------
  reshape(...shape: (number | number[])[]): Tensor {
    return new Tensor(native.reshape(this.native, shapeArgs(shape)));
  }
  view(...shape: (number | number[])[]): Tensor {
    return this.reshape(...shape);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    if (this.ndim === 0) return this.reshape([1]);
    const s = startDim < 0 ? startDim + this.ndim : startDim;
    const e = endDim < 0 ? endDim + this.ndim : endDim;
    if (s < 0 || e >= this.ndim || s > e) throw new RangeError(`flatten: bad dims ${startDim}..${endDim} for ${this.ndim} dimension(s)`);
    const shape = [...this.shape.slice(0, s), this.shape.slice(s, e + 1).reduce((a, b) => a * b, 1), ...this.shape.slice(e + 1)];
    return this.reshape(shape);
  }
  permute(...dims: (number | number[])[]): Tensor {
    return new Tensor(native.permute(this.native, shapeArgs(dims)));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(native.transpose(this.native, dim0, dim1));
  }
  /** Transpose of a 2-d tensor. */
  t(): Tensor {
    if (this.ndim !== 2) throw new RangeError(`t: expected a 2-d tensor, got [${this.shape.join(', ')}]`);
    return this.transpose(0, 1);
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this.native, dim));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this.native, dim));
  }
  expand(...shape: (number | number[])[]): Tensor {
    return new Tensor(native.expand(this.native, shapeArgs(shape)));
  }
  repeat(...reps: (number | number[])[]): Tensor {
    return new Tensor(native.repeat(this.native, shapeArgs(reps)));
  }
  /** Python-style slice along `dim`: start/end may be negative or omitted; step > 0. A view. */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return new Tensor(native.slice(this.native, dim, start, end, step));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return this.slice(dim, start, start + length);
  }
  /** Index one position along `dim`, dropping the dim. A view. */
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this.native, dim, index));
  }
  /** Advanced indexing t[i0, i1, …] with int64 or bool index tensors. */
  index(indices: Tensor[]): Tensor {
    return new Tensor(native.index(this.native, indices.map((i) => i.native)));
  }
  /** Out-of-place t[indices] = values (or += with accumulate). */
  indexPut(indices: Tensor[], values: Tensor, accumulate = false): Tensor {
    return new Tensor(native.indexPut(this.native, indices.map((i) => i.native), values.native, accumulate, false));
  }
  /** In-place t[indices] = values. */
  indexPut_(indices: Tensor[], values: Tensor, accumulate = false): this {
    native.indexPut(this.native, indices.map((i) => i.native), values.native, accumulate, true);
    return this;
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this.native, dim, index.native));
  }
  scatter(dim: number, index: Tensor, src: Tensor | number): Tensor {
    if (typeof src === 'number') return new Tensor(native.scatterValue(this.native, dim, index.native, src));
    return new Tensor(native.scatter(this.native, dim, index.native, src.native));
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(native.scatter(this.native, dim, index.native, src.native, 'add'));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this.native, dim, index.native));
  }
  flip(...dims: (number | number[])[]): Tensor {
    return new Tensor(native.flip(this.native, shapeArgs(dims)));
  }
  /** Splits into pieces of `size` (a number) or of the given sizes along `dim`. */
  split(size: number | number[], dim = 0): Tensor[] {
    const d = dim < 0 ? dim + this.ndim : dim;
    let sizes: number[];
    if (typeof size === 'number') {
      if (!(size > 0) || !Number.isInteger(size)) throw new RangeError(`split: size must be a positive integer, got ${size}`);
      const n = this.shape[d] ?? 0;
      sizes = [];
      for (let s = 0; s < n; s += size) sizes.push(Math.min(size, n - s));
    } else sizes = size;
    return native.split(this.native, sizes, dim).map((t) => new Tensor(t));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    const d = dim < 0 ? dim + this.ndim : dim;
    return this.split(Math.ceil((this.shape[d] ?? 0) / chunks) || 1, dim);
  }

  // ---- elementwise -------------------------------------------------------------------------
  #unary(op: string): Tensor {
    return new Tensor(native.unary(op, this.native));
  }
  #binary(op: string, other: Tensor | number): Tensor {
    if (typeof other === 'number') return new Tensor(native.binaryScalar(op, this.native, other));
    return new Tensor(native.binary(op, this.native, other.native));
  }
  /** this + alpha·other (broadcasting). */
  add(other: Tensor | number, alpha = 1): Tensor {
    if (alpha === 1) return this.#binary('add', other);
    if (typeof other === 'number') return this.#binary('add', other * alpha);
    const scaled = native.binaryScalar('mul', other.native, alpha);
    try {
      return new Tensor(native.binary('add', this.native, scaled));
    } finally {
      native.dispose(scaled);
    }
  }
  sub(other: Tensor | number): Tensor {
    return this.#binary('sub', other);
  }
  mul(other: Tensor | number): Tensor {
    return this.#binary('mul', other);
  }
  div(other: Tensor | number): Tensor {
    return this.#binary('div', other);
  }
  pow(exponent: Tensor | number): Tensor {
    return this.#binary('pow', exponent);
  }
  remainder(other: Tensor | number): Tensor {
    return this.#binary('remainder', other);
  }
  maximum(other: Tensor | number): Tensor {
    return this.#binary('maximum', other);
  }
  minimum(other: Tensor | number): Tensor {
    return this.#binary('minimum', other);
  }
  atan2(other: Tensor): Tensor {
    return this.#binary('atan2', other);
  }
  eq(other: Tensor | number): Tensor {
    return this.#binary('eq', other);
  }
  ne(other: Tensor | number): Tensor {
    return this.#binary('ne', other);
  }
  lt(other: Tensor | number): Tensor {
    return this.#binary('lt', other);
  }
  le(other: Tensor | number): Tensor {
    return this.#binary('le', other);
  }
  gt(other: Tensor | number): Tensor {
    return this.#binary('gt', other);
  }
  ge(other: Tensor | number): Tensor {
    return this.#binary('ge', other);
  }
  logicalAnd(other: Tensor): Tensor {
    return this.#binary('logicalAnd', other);
  }
  logicalOr(other: Tensor): Tensor {
    return this.#binary('logicalOr', other);
  }
  logicalNot(): Tensor {
    return this.#unary('logicalNot');
  }
  neg(): Tensor {
    return this.#unary('neg');
  }
  abs(): Tensor {
    return this.#unary('abs');
  }
  sign(): Tensor {
    return this.#unary('sign');
  }
  exp(): Tensor {
    return this.#unary('exp');
  }
  expm1(): Tensor {
    return this.#unary('expm1');
  }
  log(): Tensor {
    return this.#unary('log');
  }
  log1p(): Tensor {
    return this.#unary('log1p');
  }
  log2(): Tensor {
    return this.#unary('log2');
  }
  sqrt(): Tensor {
    return this.#unary('sqrt');
  }
  rsqrt(): Tensor {
    return this.#unary('rsqrt');
  }
  square(): Tensor {
    return this.#unary('square');
  }
  reciprocal(): Tensor {
    return this.#unary('reciprocal');
  }
  sin(): Tensor {
    return this.#unary('sin');
  }
  cos(): Tensor {
    return this.#unary('cos');
  }
  tanh(): Tensor {
    return this.#unary('tanh');
  }
  sigmoid(): Tensor {
    return this.#unary('sigmoid');
  }
  relu(): Tensor {
    return this.#unary('relu');
  }
  silu(): Tensor {
    return this.#unary('silu');
  }
  erf(): Tensor {
    return this.#unary('erf');
  }
  floor(): Tensor {
    return this.#unary('floor');
  }
  ceil(): Tensor {
    return this.#unary('ceil');
  }
  round(): Tensor {
    return this.#unary('round');
  }
  trunc(): Tensor {
    return this.#unary('trunc');
  }
  isnan(): Tensor {
    return this.#unary('isnan');
  }
  isfinite(): Tensor {
    return this.#unary('isfinite');
  }
  clamp(min?: number, max?: number): Tensor {
    return new Tensor(native.clamp(this.native, min, max));
  }

  // ---- reductions --------------------------------------------------------------------------
  #reduce(op: string, dims: Dims | undefined, keepdim = false, extra?: number): Tensor {
    return new Tensor(native.reduce(op, this.native, dimsList(dims), keepdim, extra));
  }
  sum(dims?: Dims, opts: ReduceOptions = {}): Tensor {
    return this.#reduce('sum', dims, opts.keepdim);
  }
  mean(dims?: Dims, opts: ReduceOptions = {}): Tensor {
    return this.#reduce('mean', dims, opts.keepdim);
  }
  prod(dims?: Dims, opts: ReduceOptions = {}): Tensor {
    return this.#reduce('prod', dims, opts.keepdim);
  }
  var(dims?: Dims, opts: VarOptions = {}): Tensor {
    return this.#reduce('var', dims, opts.keepdim, opts.correction ?? 1);
  }
  std(dims?: Dims, opts: VarOptions = {}): Tensor {
    return this.#reduce('std', dims, opts.keepdim, opts.correction ?? 1);
  }
  logsumexp(dims?: Dims, opts: ReduceOptions = {}): Tensor {
    return this.#reduce('logsumexp', dims, opts.keepdim);
  }
  amax(dims?: Dims, opts: ReduceOptions = {}): Tensor {
    return this.#reduce('amax', dims, opts.keepdim);
  }
  amin(dims?: Dims, opts: ReduceOptions = {}): Tensor {
    return this.#reduce('amin', dims, opts.keepdim);
  }
  norm(p = 2, dims?: Dims, opts: ReduceOptions = {}): Tensor {
    return this.#reduce('norm', dims, opts.keepdim, p);
  }
  any(dims?: Dims, opts: ReduceOptions = {}): Tensor {
    return this.#reduce('any', dims, opts.keepdim);
  }
  all(dims?: Dims, opts: ReduceOptions = {}): Tensor {
    return this.#reduce('all', dims, opts.keepdim);
  }
  /** max() over all elements, or { values, indices } along a dim (as PyTorch). */
  max(): Tensor;
  max(dim: number, opts?: ReduceOptions): ValuesIndices;
  max(dim?: number, opts: ReduceOptions = {}): Tensor | ValuesIndices {
    if (dim === undefined) return this.amax();
    const [values, indices] = native.maxDim(this.native, dim, opts.keepdim);
    return { values: new Tensor(values), indices: new Tensor(indices) };
  }
  min(): Tensor;
  min(dim: number, opts?: ReduceOptions): ValuesIndices;
  min(dim?: number, opts: ReduceOptions = {}): Tensor | ValuesIndices {
    if (dim === undefined) return this.amin();
    const [values, indices] = native.minDim(this.native, dim, opts.keepdim);
    return { values: new Tensor(values), indices: new Tensor(indices) };
  }
  argmax(dim?: number, opts: ReduceOptions = {}): Tensor {
    return new Tensor(native.argmax(this.native, dim, opts.keepdim));
  }
  argmin(dim?: number, opts: ReduceOptions = {}): Tensor {
    return new Tensor(native.argmin(this.native, dim, opts.keepdim));
  }
  cumsum(dim: number): Tensor {
    return new Tensor(native.cumsum(this.native, dim));
  }
  sort(opts: { dim?: number; descending?: boolean; stable?: boolean } = {}): ValuesIndices {
    const [values, indices] = native.sort(this.native, opts.dim ?? -1, opts.descending ?? false, opts.stable ?? true);
    return { values: new Tensor(values), indices: new Tensor(indices) };
  }
  topk(k: number, opts: { dim?: number; largest?: boolean; sorted?: boolean } = {}): ValuesIndices {
    const [values, indices] = native.topk(this.native, k, opts.dim ?? -1, opts.largest ?? true, opts.sorted ?? true);
    return { values: new Tensor(values), indices: new Tensor(indices) };
  }

  // ---- linear algebra ----------------------------------------------------------------------
  matmul(other: Tensor): Tensor {
    return new Tensor(native.matmul(this.native, other.native));
  }

  // ---- in place (PyTorch's trailing-underscore names) --------------------------------------
  copy_(src: Tensor): this {
    native.copyInPlace(this.native, src.native);
    return this;
  }
  fill_(value: number): this {
    native.fillInPlace(this.native, value);
    return this;
  }
  zero_(): this {
    return this.fill_(0);
  }
  /** this += alpha·other, outside autograd (for optimizers and updates). */
  add_(other: Tensor | number, alpha = 1): this {
    if (typeof other === 'number') native.addScalarInPlace(this.native, other * alpha);
    else native.addInPlace(this.native, other.native, alpha);
    return this;
  }
  sub_(other: Tensor | number, alpha = 1): this {
    return this.add_(other, -alpha);
  }
  mul_(other: Tensor | number): this {
    if (typeof other === 'number') native.mulScalarInPlace(this.native, other);
    else native.mulInPlace(this.native, other.native);
    return this;
  }

  // ---- autograd ----------------------------------------------------------------------------
  /** The accumulated gradient, a new handle on it (undefined when none). */
  get grad(): Tensor | undefined {
    const g = native.getGrad(this.native);
    return g ? new Tensor(g) : undefined;
  }
  set grad(g: Tensor | undefined) {
    native.setGrad(this.native, g?.native);
  }
  backward(gradient?: Tensor, opts: BackwardOptions = {}): void {
    native.backward(this.native, gradient?.native, opts.retainGraph ?? false, opts.createGraph ?? false);
  }
  /** Clears .grad (sets it to none, as PyTorch's zero_grad default). */
  zeroGrad(): void {
    native.setGrad(this.native, undefined);
  }
}

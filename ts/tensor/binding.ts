// The one place that touches the raw addon. Everything else imports `native` from here.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A native tensor id: a number naming a slot in the addon's tensor table (see native/common.h).
 * dispose() frees the slot at once; forgotten ids are released by the Tensor class's
 * FinalizationRegistry.
 */
export type NativeTensor = number;

export interface NativeGenerator {
  manualSeed(seed: number): void;
  initialSeed(): number;
  getState(): Uint8Array;
  setState(state: Uint8Array): void;
}

/** A compiled block program (native/program.cc); opaque to TypeScript. */
export interface NativeProgram {
  readonly __brand?: 'NativeProgram';
}

export interface NativeJob {
  promise: Promise<unknown>;
  cancel(): void;
}

type T = NativeTensor;
type G = NativeGenerator | undefined;
type Opt<X> = X | undefined | null;
type Ints = number | number[];

/** The addon's functions, as bound in native/*.cc. Argument checks happen natively too. */
/** One reverse step's float64 coefficients: x̂0 = recip·x − recipM1·ε; x' = coef1·x̂0 + coef2·(ε or x) + sigma·z. */
export interface DiffusionStepPlan {
  t: number;
  recip: number;
  recipM1: number;
  coef1: number;
  coef2: number;
  sigma: number;
}

/** x' = clamp(x − stepSize·clamp(∂E/∂x, ±gradClamp) + noise·ε, clampMin, clampMax). */
export interface SgldStepSettings {
  stepSize: number;
  noise: number;
  gradClamp?: number;
  clampMin?: number;
  clampMax?: number;
}

export interface NativeBinding {
  NativeGenerator: new (seed?: number) => NativeGenerator;
  NativeProgram: new (blocks: object[]) => NativeProgram;
  // program.cc
  programForward(p: NativeProgram, x: T, t: T | undefined, training: boolean, gen?: G, computeDtype?: string): T;
  programForwardAsync(p: NativeProgram, x: T, t: T | undefined, gen: G | undefined, computeDtype: string, jobOpts?: object): NativeJob;
  programReleaseCache(p: NativeProgram): void;
  // handle.cc
  shape(t: T): number[];
  dtype(t: T): string;
  device(t: T): string;
  numel(t: T): number;
  requiresGrad(t: T): boolean;
  isDisposed(t: T): boolean;
  dispose(t: T): void;
  release(t: T): void;
  handleCount(): number;
  // tensor.cc
  fromArray(data: ArrayBufferView, shape: number[], dtype?: string): T;
  toArray(t: T): Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;
  fromBytes(bytes: Uint8Array, shape: number[], dtype: string): T;
  toBytes(t: T): Uint8Array;
  item(t: T): number | boolean;
  to(t: T, dtype?: Opt<string>, device?: Opt<string>, copy?: boolean): T;
  clone(t: T): T;
  detach(t: T): T;
  contiguous(t: T, memoryFormat?: string): T;
  isContiguous(t: T, memoryFormat?: string): boolean;
  copyInPlace(t: T, src: T): T;
  fillInPlace(t: T, v: number): T;
  addInPlace(t: T, other: T, alpha?: number): T;
  mulInPlace(t: T, other: T): T;
  addScalarInPlace(t: T, s: number): T;
  mulScalarInPlace(t: T, s: number): T;
  setRequiresGrad(t: T, on: boolean): T;
  // creation.cc
  full(shape: number[], value: number, dtype?: Opt<string>, device?: Opt<string>): T;
  empty(shape: number[], dtype?: Opt<string>, device?: Opt<string>): T;
  rand(shape: number[], gen?: G, dtype?: Opt<string>, device?: Opt<string>): T;
  randn(shape: number[], gen?: G, dtype?: Opt<string>, device?: Opt<string>): T;
  randint(low: number, high: number, shape: number[], gen?: G, dtype?: Opt<string>, device?: Opt<string>): T;
  randperm(n: number, gen?: G, device?: Opt<string>): T;
  bernoulli(p: T, gen?: G): T;
  uniformInPlace(t: T, low: number, high: number, gen?: G): T;
  normalInPlace(t: T, mean: number, std: number, gen?: G): T;
  arange(start: number, end: number, step: number, dtype?: Opt<string>, device?: Opt<string>): T;
  linspace(start: number, end: number, steps: number, dtype?: Opt<string>, device?: Opt<string>): T;
  eye(n: number, dtype?: Opt<string>, device?: Opt<string>): T;
  // shape_ops.cc
  reshape(t: T, shape: number[]): T;
  permute(t: T, dims: number[]): T;
  transpose(t: T, a: number, b: number): T;
  squeeze(t: T, dim?: number): T;
  unsqueeze(t: T, dim: number): T;
  expand(t: T, shape: number[]): T;
  repeat(t: T, reps: number[]): T;
  slice(t: T, dim: number, start?: Opt<number>, end?: Opt<number>, step?: number): T;
  select(t: T, dim: number, index: number): T;
  index(t: T, indices: T[]): T;
  indexPut(t: T, indices: T[], values: T, accumulate?: boolean, inPlace?: boolean): T;
  gather(t: T, dim: number, index: T): T;
  scatter(t: T, dim: number, index: T, src: T, reduce?: string): T;
  scatterValue(t: T, dim: number, index: T, value: number): T;
  indexSelect(t: T, dim: number, index: T): T;
  cat(ts: T[], dim?: number): T;
  stack(ts: T[], dim?: number): T;
  split(t: T, sizes: number[], dim?: number): T[];
  pad(t: T, pads: number[], mode?: string, value?: number): T;
  flip(t: T, dims: number[]): T;
  where(cond: T, a: T, b: T | number, otherIsScalar?: boolean): T;
  // math_ops.cc
  unary(op: string, t: T): T;
  binary(op: string, a: T, b: T): T;
  binaryScalar(op: string, a: T, s: number): T;
  opNames(): { unary: string[]; binary: string[] };
  clamp(t: T, min?: Opt<number>, max?: Opt<number>): T;
  reduce(op: string, t: T, dims?: Opt<number[]>, keepdim?: boolean, extra?: number): T;
  maxDim(t: T, dim: number, keepdim?: boolean): [T, T];
  minDim(t: T, dim: number, keepdim?: boolean): [T, T];
  argmax(t: T, dim?: Opt<number>, keepdim?: boolean): T;
  argmin(t: T, dim?: Opt<number>, keepdim?: boolean): T;
  sort(t: T, dim?: number, descending?: boolean, stable?: boolean): [T, T];
  topk(t: T, k: number, dim?: number, largest?: boolean, sorted?: boolean): [T, T];
  cumsum(t: T, dim: number): T;
  // linalg_ops.cc
  matmul(a: T, b: T): T;
  cdist(a: T, b: T, p?: number): T;
  eigh(a: T, upper?: boolean): [T, T];
  // nn_ops.cc
  conv2d(x: T, w: T, b?: Opt<T>, stride?: Ints, padding?: Ints, dilation?: Ints, groups?: number): T;
  linear(x: T, w: T, b?: Opt<T>): T;
  groupNorm(x: T, groups: number, w?: Opt<T>, b?: Opt<T>, eps?: number): T;
  batchNorm(x: T, rm: Opt<T>, rv: Opt<T>, w: Opt<T>, b: Opt<T>, training: boolean, momentum?: number, eps?: number): T;
  dropout(x: T, p: number, training?: boolean, gen?: G): T;
  leakyRelu(x: T, slope?: number): T;
  softplus(x: T, beta?: number, threshold?: number): T;
  softmax(x: T, dim?: number): T;
  logSoftmax(x: T, dim?: number): T;
  avgPool2d(x: T, kernel: Ints, stride?: Opt<Ints>, padding?: Ints, ceilMode?: boolean, countIncludePad?: boolean): T;
  maxPool2d(x: T, kernel: Ints, stride?: Opt<Ints>, padding?: Ints, dilation?: Ints, ceilMode?: boolean): T;
  adaptiveAvgPool2d(x: T, size: Ints): T;
  upsampleNearest(x: T, scale?: number): T;
  resizeBilinear(x: T, size: Ints, alignCorners?: boolean): T;
  attention(q: T, k: T, v: T, mask?: Opt<T>, scale?: Opt<number>): T;
  crossEntropy(logits: T, target: T, reduction?: string, labelSmoothing?: number): T;
  mseLoss(a: T, b: T, reduction?: string): T;
  timestepEmbedding(t: T, dim: number, maxPeriod?: number): T;
  // autograd.cc
  backward(t: T, grad?: Opt<T>, retainGraph?: boolean, createGraph?: boolean): void;
  getGrad(t: T): T | undefined;
  setGrad(t: T, g?: Opt<T>): void;
  zeroGrad(ts: T[]): void;
  grad(outputs: T[], inputs: T[], gradOutputs?: Opt<T[]>, retainGraph?: boolean, createGraph?: boolean, allowUnused?: boolean): (T | undefined)[];
  isLeaf(t: T): boolean;
  // generator.cc, runtime.cc, jobs.cc
  manualSeed(seed: number): void;
  buildInfo(): Record<string, unknown>;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  setAllocationLimit(bytes: number): void;
  getAllocationLimit(): number;
  memoryStats(): { tensors: number; bytes: number; handles: number };
  setGradEnabled(on: boolean): boolean;
  isGradEnabled(): boolean;
  setDeterministic(on: boolean): void;
  setCudaOptions(o: { benchmark?: boolean; tf32?: boolean }): void;
  getCudaOptions(): { benchmark: boolean; tf32: boolean };
  synchronize(): void;
  langevinGaussian(x: T, opts: object, gen?: G, jobOpts?: object): NativeJob;
  // optim.cc
  adamStep(params: T[], expAvg: T[], expAvgSq: T[], step: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: boolean): void;
  sgdStep(params: T[], bufs: T[], lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean, firstStep: boolean): void;
  clipGradNorm(params: T[], maxNorm: number): number;
  emaUpdate(shadow: T[], params: T[], decay: number): void;
  // train_step.cc
  classifierStepAsync(program: NativeProgram, x: T, y: T, params: T[], expAvg: T[], expAvgSq: T[], settings: object, gen?: G): NativeJob;
  /** One reverse-diffusion update (see native/diffusion.cc): returns [x', x̂0]. */
  diffusionStep(x: T, eps: T, plan: DiffusionStepPlan, clip: boolean, useEps: boolean, gen?: G): [T, T];
  sampleLoopAsync(program: NativeProgram, x: T, plans: DiffusionStepPlan[], clip: boolean, useEps: boolean, snapshotEvery: number, gen: G | undefined, computeDtype: string, jobOpts?: object): NativeJob;
  /** E (−logsumexp or −f[y]) and ∂E/∂x of a classifier program in eval mode: [E, grad]. */
  energyGrad(program: NativeProgram, x: T, y: T | undefined, gen: G | undefined, computeDtype: string): [T, T];
  /** One SGLD step fused with the energy gradient: [x', E(x)]. */
  sgldStep(program: NativeProgram, x: T, settings: SgldStepSettings, y: T | undefined, gen: G | undefined, computeDtype: string): [T, T];
  // data_ops.cc
  imageBatch(images: T, indices: T): T;
  augment(x: T, flip: boolean, cropPad: number, noise: number, gen?: G): T;
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  const candidates = [
    process.env.LANGEVIN_ADDON,
    join(packageRoot, 'build', 'Release', 'langevin.node'),
    join(packageRoot, 'build', 'Debug', 'langevin.node'),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `langevin: the native addon is not built (looked for ${candidates.join(', ')}). ` +
        'Run `npm rebuild langevin` (needs libtorch: `apt-get install libtorch-dev`, or LANGEVIN_TORCH_DIR).',
    );
  }
  try {
    return require(found) as NativeBinding;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new Error(
      `langevin: the native addon at ${found} failed to load: ${why}. ` +
        'It was probably built against another libtorch or Node; run `npm rebuild langevin`.',
    );
  }
}

export const native: NativeBinding = load();

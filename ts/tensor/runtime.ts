// Process-level facts and settings: build info, threads, memory, determinism.
import { native } from './binding.js';
import type { Device } from './dtype.js';

export interface BuildInfo {
  /** libtorch version, e.g. "1.13.0". */
  libtorch: string;
  /** Built against a CUDA libtorch. */
  cudaCompiled: boolean;
  /** CUDA compiled in and at least one GPU visible. */
  cudaAvailable: boolean;
  gpus: number;
  /** cuDNN version number (e.g. 90100), 0 without cuDNN, null on CPU builds. */
  cudnn: number | null;
  /** Threads used by native work (main thread and job workers). */
  threads: number;
  /** ATen's parallel backend report. */
  parallel: string;
  /** libtorch's build configuration (compiler, BLAS, flags). */
  config: string;
  mkldnn: boolean;
  cpu: { avx2: boolean; avx512f: boolean; avx512bf16: boolean; amxBf16: boolean; cores: number };
  napiVersion: number;
}

/** Versions and capabilities of this build and machine, for run configs and bench tables. */
export function buildInfo(): BuildInfo {
  return native.buildInfo() as unknown as BuildInfo;
}

/**
 * The dtype a model's convolutions and matmuls compute in (mixed precision: normalisations, the
 * diffusion update and every output stay float32). 'auto' picks bfloat16 where the hardware runs it
 * natively — a CPU with AVX512-BF16 or AMX-BF16, or a CUDA device — and float32 elsewhere.
 */
export type ComputeDtype = 'float32' | 'bfloat16';

/** Resolves 'auto' (or undefined = float32) for `device`; rejects anything else. */
export function resolveComputeDtype(requested: ComputeDtype | 'auto' | undefined, device: Device = 'cpu'): ComputeDtype {
  if (requested === undefined || requested === 'float32' || requested === 'bfloat16') return requested ?? 'float32';
  if (requested !== 'auto') throw new RangeError(`computeDtype must be 'float32', 'bfloat16' or 'auto', got '${String(requested)}'`);
  if (device !== 'cpu') return 'bfloat16';
  const cpu = buildInfo().cpu;
  return cpu.avx512bf16 || cpu.amxBf16 ? 'bfloat16' : 'float32';
}

/**
 * `resolveComputeDtype` for a call where mixed precision needs a capability (a compiled model's
 * native program): when `supported` is false an explicit 'bfloat16' throws "`what` 'bfloat16'
 * `need`" and 'auto' falls back to float32.
 */
export function supportedComputeDtype(requested: ComputeDtype | 'auto' | undefined, device: Device, supported: boolean, what: string, need: string): ComputeDtype {
  const dtype = resolveComputeDtype(requested, device);
  if (dtype === 'float32' || supported) return dtype;
  if (requested !== 'auto') throw new RangeError(`${what} '${dtype}' ${need}`);
  return 'float32';
}

/** Sets the thread count for all native work, including async jobs' worker threads. */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}

/**
 * Live tensors (not disposed), the bytes of their distinct storages (views share), and the
 * tensor-table slots in use in this thread.
 */
export function memory(): { tensors: number; bytes: number; handles: number } {
  return native.memoryStats();
}

/**
 * Caps the size of any single tensor created by langevin: larger requests throw a RangeError
 * (code ERR_ALLOCATION_LIMIT) before allocating. 0 restores the default (physical memory).
 */
export function setAllocationLimit(bytes: number): void {
  native.setAllocationLimit(bytes);
}
export function getAllocationLimit(): number {
  return native.getAllocationLimit();
}

/** Deterministic algorithms (and no cuDNN autotuning): with one thread, runs repeat bit for bit. */
export function setDeterministic(on: boolean): void {
  native.setDeterministic(on);
}

/**
 * CUDA settings (no effect on CPU): `benchmark` lets cuDNN time its convolution algorithms on the
 * first call of each shape and keep the fastest (as `torch.backends.cudnn.benchmark`); `tf32` allows
 * TF32 tensor cores for float32 convolutions and matmuls (as `torch.backends.cudnn.allow_tf32` +
 * `torch.backends.cuda.matmul.allow_tf32`). Both default to libtorch's defaults (off for benchmark).
 */
export function setCudaOptions(o: { benchmark?: boolean; tf32?: boolean }): void {
  native.setCudaOptions(o);
}
export function getCudaOptions(): { benchmark: boolean; tf32: boolean } {
  return native.getCudaOptions();
}

/** Waits until queued CUDA work is done (no-op without CUDA): put it before reading a timer. */
export function synchronize(): void {
  native.synchronize();
}

/** 'auto' → 'cuda' when a GPU is visible, else 'cpu'; any other device passes through. */
export function resolveDevice(d: Device | 'auto' | undefined): Device {
  if (d === undefined) return 'cpu';
  if (d !== 'auto') return d;
  return buildInfo().cudaAvailable ? 'cuda' : 'cpu';
}

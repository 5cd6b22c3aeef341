// Process-level facts and settings: build info, threads, memory, determinism.
import { native } from './binding.js';

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

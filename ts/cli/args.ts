// Option parsing helpers shared by the subcommands: every bad value is a one-line RangeError.
import { resolveComputeDtype, resolveDevice, setNumThreads, type ComputeDtype } from '../tensor/index.js';
import type { Device } from '../tensor/dtype.js';

export const common = {
  help: { type: 'boolean', short: 'h' },
  threads: { type: 'string' },
  device: { type: 'string' },
  seed: { type: 'string' },
} as const;

export function num(v: string | undefined, name: string, opts: { int?: boolean; min?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min))
    throw new RangeError(`--${name} must be ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}, got '${v}'`);
  return n;
}

export function oneOf<T extends string>(v: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new RangeError(`--${name} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

export const COMPUTE_DTYPES = ['float32', 'bfloat16', 'auto'] as const;

/** --compute-dtype float32|bfloat16|auto, with 'auto' resolved for `dev` (absent = float32). */
export function computeDtypeArg(v: string | undefined, dev: Device): ComputeDtype {
  return resolveComputeDtype(oneOf(v, 'compute-dtype', COMPUTE_DTYPES), dev);
}

export function device(v: string | undefined): Device {
  if (v === undefined) return 'cpu';
  if (v === 'auto') return resolveDevice('auto');
  if (v === 'cpu' || v === 'cuda' || /^cuda:\d+$/.test(v)) return v as Device;
  throw new RangeError(`--device must be auto, cpu, cuda or cuda:N, got '${v}'`);
}

export function threads(v: string | undefined): void {
  const n = num(v, 'threads', { int: true, min: 1 });
  if (n) setNumThreads(n);
}


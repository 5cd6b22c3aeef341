// Async native jobs: a Promise, progress callbacks, and AbortSignal cancellation.
import type { NativeJob } from './binding.js';

export interface Progress {
  step: number;
  total: number;
  [metric: string]: number;
}

export interface JobOptions {
  /** Called on the main thread; every call arrives before the Promise settles. */
  onProgress?: (p: Progress) => void;
  /** Report every k steps (and the last). Default 1. */
  progressEvery?: number;
  /** Aborts between steps; the Promise then rejects with an AbortError. */
  signal?: AbortSignal;
}

function abortError(signal: AbortSignal): Error {
  const e = new Error(signal.reason instanceof Error ? signal.reason.message : 'the job was aborted');
  e.name = 'AbortError';
  (e as Error & { code: string }).code = 'ABORT_ERR';
  return e;
}

/** Starts a native job through `start` and wires its cancel() to the signal. */
export async function runJob<R>(start: (jobOpts: { onProgress?: JobOptions['onProgress']; progressEvery?: number }) => NativeJob, opts: JobOptions = {}): Promise<R> {
  if (opts.signal?.aborted) throw abortError(opts.signal);
  const job = start({ onProgress: opts.onProgress, progressEvery: opts.progressEvery });
  const onAbort = () => job.cancel();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return (await job.promise) as R;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

// The shared trainer loop: an async iterator of step records with progress numbers, periodic
// evaluation and checkpoints, a JSONL log, NaN/Inf detection naming the step, and clean stops on
// an AbortSignal (a checkpoint is written first). Library code reads no process state.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';

export interface StepRecord {
  step: number;
  /** The loss being minimised. */
  loss: number;
  /** Its parts (e.g. ce, px), and anything else worth logging per step. */
  terms: Record<string, number>;
  lr: number;
  gradNorm?: number;
  stepsPerSec: number;
  /** Seconds to go at the recent rate. */
  eta: number;
  /** Present on steps where evaluation ran. */
  eval?: Record<string, number>;
  /** Present on steps where a checkpoint was written. */
  checkpoint?: string;
}

export interface StepResult {
  loss: number;
  terms?: Record<string, number>;
  lr: number;
  gradNorm?: number;
}

export class TrainingDivergedError extends Error {
  readonly code = 'ERR_DIVERGED';
  constructor(
    readonly step: number,
    readonly loss: number,
    readonly terms: Record<string, number>,
  ) {
    super(`training diverged at step ${step}: loss is ${loss} (terms ${JSON.stringify(terms)})`);
    this.name = 'TrainingDivergedError';
  }
}

export interface LoopOptions {
  /** Total steps (the loop runs from startStep to steps). */
  steps: number;
  startStep?: number;
  /** Runs one step (0-based index); returns its numbers. */
  step: (step: number) => StepResult | Promise<StepResult>;
  evaluate?: (step: number) => Promise<Record<string, number>>;
  evalEvery?: number;
  /** Writes a checkpoint; returns its path. Called every `checkpointEvery`, at the end, and on abort. */
  checkpoint?: (step: number, reason: 'periodic' | 'final' | 'abort') => Promise<string>;
  checkpointEvery?: number;
  /** Folder for log.jsonl and config.json (created). */
  dir?: string;
  /** The run config, written to dir/config.json. */
  config?: Record<string, unknown>;
  signal?: AbortSignal;
  /** Stop on a non-finite loss (default true). */
  stopOnNonFinite?: boolean;
}

/** Runs steps [startStep, steps) and yields a record after each. */
export async function* trainLoop(opts: LoopOptions): AsyncGenerator<StepRecord> {
  const start = opts.startStep ?? 0;
  let log: WriteStream | undefined;
  if (opts.dir) {
    mkdirSync(opts.dir, { recursive: true });
    if (opts.config) writeFileAtomicSync(join(opts.dir, 'config.json'), [Buffer.from(JSON.stringify(opts.config, null, 2) + '\n')]);
    log = createWriteStream(join(opts.dir, 'log.jsonl'), { flags: 'a' });
  }
  const rate = { t: performance.now(), n: 0, value: 0 };
  try {
    for (let s = start; s < opts.steps; s++) {
      if (opts.signal?.aborted) {
        const path = s > start && opts.checkpoint ? await opts.checkpoint(s, 'abort') : undefined;
        log?.write(JSON.stringify({ step: s, event: 'abort', checkpoint: path }) + '\n');
        return;
      }
      const r = await opts.step(s);
      if ((opts.stopOnNonFinite ?? true) && !Number.isFinite(r.loss)) {
        log?.write(JSON.stringify({ step: s + 1, event: 'diverged', loss: String(r.loss), terms: r.terms }) + '\n');
        throw new TrainingDivergedError(s + 1, r.loss, r.terms ?? {});
      }
      rate.n++;
      const now = performance.now();
      if (now - rate.t > 2000 || rate.value === 0) {
        rate.value = (rate.n * 1000) / Math.max(now - rate.t, 1e-3);
        rate.t = now;
        rate.n = 0;
      }
      const done = s + 1;
      const rec: StepRecord = { step: done, loss: r.loss, terms: r.terms ?? {}, lr: r.lr, gradNorm: r.gradNorm, stepsPerSec: rate.value, eta: (opts.steps - done) / Math.max(rate.value, 1e-9) };
      if (opts.evaluate && opts.evalEvery && (done % opts.evalEvery === 0 || done === opts.steps)) rec.eval = await opts.evaluate(done);
      if (opts.checkpoint && ((opts.checkpointEvery && done % opts.checkpointEvery === 0) || done === opts.steps))
        rec.checkpoint = await opts.checkpoint(done, done === opts.steps ? 'final' : 'periodic');
      log?.write(JSON.stringify(rec) + '\n');
      yield rec;
      await new Promise((r) => setImmediate(r)); // let signals, timers and I/O run between steps
    }
  } finally {
    await new Promise<void>((r) => (log ? log.end(r) : r()));
  }
}

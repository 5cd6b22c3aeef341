// DDPM training on the shared trainer: L_simple with Adam, warmup, clipping and an EMA, a
// validation loss on fixed (t, ε) draws for raw and EMA weights, and DDIM sample grids at intervals.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad } from '../tensor/autograd.js';
import { Generator } from '../tensor/generator.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/dtype.js';
import type { Module } from '../nn/module.js';
import type { ImageDataset } from '../data/dataset.js';
import { savePngGrid } from '../data/png.js';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { EMA } from '../train/ema.js';
import { trainLoop, type StepRecord } from '../train/loop.js';
import { Adam, clipGradNorm } from '../train/optim.js';
import { linearWarmup } from '../train/schedule.js';
import { streamSeed } from '../train/seeds.js';
import { BatchStream } from '../train/stream.js';
import { trainingComputeDtype, type EpsModel, type GaussianDiffusion } from './gaussian.js';
import type { ComputeDtype } from '../tensor/runtime.js';
import { sample, toUint8 } from './sample.js';

export type DdpmModel = Module & EpsModel;

/** A step record; `samples` names the grid written on sampling steps. */
export type DdpmStepRecord = StepRecord & { samples?: string };

/** The hyper-parameters of a run (what `ddpmRecipe` fills in). */
export interface DdpmRecipe {
  batchSize: number;
  lr: number;
  warmup: number;
  clipNorm: number;
  emaDecay: number;
  /** EMA decay warmup min(decay, (1 + n)/(10 + n)). */
  emaWarmup: boolean;
  flip: boolean;
}

/**
 * The paper's recipe for its presets (Adam 2e-4 — 2e-5 at 256² — warmup 5000, clip 1, EMA 0.9999,
 * batch 128/64, flips) and a CPU-sized one for the small presets: at 0.9999 the EMA is still ~90%
 * initial weights after 1,000 steps, so they use 0.999 with decay warmup, a 500-step warmup and lr 5e-4.
 */
export function ddpmRecipe(preset?: string): DdpmRecipe {
  if (preset === 'ddpmCifar10') return { batchSize: 128, lr: 2e-4, warmup: 5000, clipNorm: 1, emaDecay: 0.9999, emaWarmup: false, flip: true };
  if (preset === 'ddpm256') return { batchSize: 64, lr: 2e-5, warmup: 5000, clipNorm: 1, emaDecay: 0.9999, emaWarmup: false, flip: true };
  return { batchSize: 64, lr: 5e-4, warmup: 500, clipNorm: 1, emaDecay: 0.999, emaWarmup: true, flip: true };
}

export interface DdpmTrainOptions extends Partial<DdpmRecipe> {
  train: ImageDataset;
  valid?: ImageDataset;
  steps: number;
  /** Drives data order, flips, (t, ε) draws, validation draws and sample grids. Default 0. */
  seed?: number;
  /** Checkpoints (latest.safetensors), log.jsonl, config.json and samples/ go here. */
  dir?: string;
  /** Continue from dir/latest.safetensors when it exists. */
  resume?: boolean;
  checkpointEvery?: number;
  /** Validation loss every k steps (default 500) on at most `validSize` images (default 1024). */
  evalEvery?: number;
  validSize?: number;
  /** DDIM grids of EMA samples every k steps into dir/samples (default: checkpointEvery; 0 = never). */
  sampleEvery?: number;
  sampleCount?: number;
  sampleSteps?: number;
  /** Where the model lives (batches are moved there). Default 'cpu'. */
  device?: Device;
  /**
   * Mixed-precision training: the U-Net's forward and backward in bfloat16 with float32 master
   * weights, optimizer state, EMA and loss (normalisations stay float32). Default 'float32'; 'auto' =
   * bfloat16 where the hardware has it. Validation losses and sample grids stay float32, so runs
   * in either dtype compare on the same footing.
   */
  computeDtype?: ComputeDtype | 'auto';
  /** Extra config recorded in config.json and the checkpoint (e.g. the preset and data names). */
  meta?: Record<string, unknown>;
  signal?: AbortSignal;
}

/** Mean L_simple over a data set with (t, ε) drawn from a fixed seed, so values are comparable across steps. */
export function validationLoss(model: DdpmModel, diffusion: GaussianDiffusion, data: ImageDataset, seed: number, opts: { batchSize?: number; device?: Device } = {}): number {
  const was = model.training;
  model.eval();
  const g = new Generator(seed);
  let sum = 0;
  try {
    noGrad(() => {
      for (const { x, y } of data.batches({ batchSize: opts.batchSize ?? 256, shuffle: false })) {
        sum += tidy(() => diffusion.trainingLoss(model, opts.device && opts.device !== 'cpu' ? x.to(opts.device) : x, g).perExample.sum().item());
        x.dispose();
        y.dispose();
      }
    });
  } finally {
    model.train(was);
  }
  return sum / data.size;
}

export async function* trainDdpm(model: DdpmModel, diffusion: GaussianDiffusion, o: DdpmTrainOptions): AsyncGenerator<DdpmStepRecord> {
  const preset = typeof o.meta?.preset === 'string' ? o.meta.preset : undefined;
  const r: DdpmRecipe = { ...ddpmRecipe(preset), ...Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k in ddpmRecipe())) };
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new RangeError(`trainDdpm: steps must be a positive integer, got ${o.steps}`);
  if (!Number.isInteger(r.batchSize) || r.batchSize < 1 || r.batchSize > o.train.size) throw new RangeError(`trainDdpm: batchSize must be in [1, ${o.train.size}], got ${r.batchSize}`);
  const seed = o.seed ?? 0;
  const computeDtype = trainingComputeDtype(model, o.computeDtype, o.device ?? 'cpu', 'trainDdpm');
  const opt = new Adam(model.parameters(), { lr: r.lr });
  const ema = new EMA(model, { decay: r.emaDecay, warmup: r.emaWarmup });
  const schedule = linearWarmup(r.lr, r.warmup);
  const checkpointEvery = o.checkpointEvery ?? 1000;
  const sampleEvery = o.sampleEvery ?? checkpointEvery;
  const valid = o.valid && o.valid.size > (o.validSize ?? 1024) ? o.valid.take(o.validSize ?? 1024) : o.valid;
  const config = { trainer: 'ddpm', steps: o.steps, seed, ...r, diffusion: diffusion.options, train: o.train.name, trainSize: o.train.size, valid: valid?.name ?? null, validSize: valid?.size ?? 0, computeDtype, model: model.describe(), ...o.meta };
  const generators: Record<string, Generator> = {};
  const dropout = (model as { generator?: Generator }).generator;
  if (dropout) generators.dropout = dropout;
  let startStep = 0;
  const latest = o.dir ? join(o.dir, 'latest.safetensors') : undefined;
  if (o.resume && latest && existsSync(latest)) startStep = (await loadCheckpoint(latest, { model, ema, optimizer: opt, generators })).step;
  // Data order is a function of (seed, epoch); flips and (t, ε) of (seed, step): a resumed run
  // sees exactly what an uninterrupted one would.
  const stream = new BatchStream(o.train, r.batchSize, seed);
  const batchFor = (step: number): Tensor => {
    const { x, y } = stream.at(step);
    y.dispose();
    if (!o.device || o.device === 'cpu') return x;
    const xd = x.to(o.device);
    x.dispose();
    return xd;
  };
  const grid = async (step: number) => {
    const dir = join(o.dir!, 'samples');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `step-${String(step).padStart(7, '0')}.png`);
    await withWeights(model, ema.shadow, async () => {
      const { x } = await sample(model, diffusion, { count: o.sampleCount ?? 16, sampler: 'ddim', steps: Math.min(o.sampleSteps ?? 50, diffusion.T), seed: streamSeed(seed, 'grid'), device: o.device });
      const u8 = toUint8(x);
      x.dispose();
      await savePngGrid(path, u8, { scale: u8.shape[2] <= 32 ? 2 : 1 });
      u8.dispose();
    });
    return path;
  };
  model.train();
  try {
    for await (const rec of trainLoop({
      steps: o.steps,
      startStep,
      dir: o.dir,
      config,
      signal: o.signal,
      evalEvery: valid ? o.evalEvery ?? 500 : undefined,
      evaluate: valid
        ? async () => {
            const vs = streamSeed(seed, 'valid');
            const raw = validationLoss(model, diffusion, valid, vs, { device: o.device });
            const avg = await withWeights(model, ema.shadow, async () => validationLoss(model, diffusion, valid, vs, { device: o.device }));
            return { loss: raw, emaLoss: avg };
          }
        : undefined,
      checkpointEvery,
      checkpoint: o.dir ? async (step) => {
        const path = join(o.dir!, 'latest.safetensors');
        await saveCheckpoint(path, { model, ema, optimizer: opt, generators }, { step, config, values: {} });
        return path;
      } : undefined,
      step: (step) => {
        opt.lr = schedule(step);
        const x = batchFor(step);
        return tidy(() => {
          const xa = r.flip ? o.train.augmentBatch(x, { flip: true }, new Generator(streamSeed(seed, 'augment', step))) : x;
          x.dispose();
          const { loss } = diffusion.trainingLoss(model, xa, new Generator(streamSeed(seed, 'noise', step)), { computeDtype });
          opt.zeroGrad();
          loss.backward();
          const gradNorm = r.clipNorm > 0 ? clipGradNorm(opt.params, r.clipNorm) : undefined;
          opt.step();
          ema.update();
          return { loss: loss.item(), lr: opt.lr, gradNorm };
        });
      },
    })) {
      const out: DdpmStepRecord = rec;
      if (o.dir && sampleEvery > 0 && (rec.step % sampleEvery === 0 || rec.step === o.steps)) out.samples = await grid(rec.step);
      yield out;
    }
  } finally {
    opt.dispose();
    ema.dispose();
  }
}

/** Runs fn with `weights` loaded into the model, then puts the model's own weights back. */
export async function withWeights<R>(model: Module, weights: Map<string, Tensor>, fn: () => Promise<R>): Promise<R> {
  const raw = new Map([...model.stateDict()].map(([k, t]) => [k, t.detach().clone()]));
  noGrad(() => model.loadStateDict(weights));
  try {
    return await fn();
  } finally {
    noGrad(() => model.loadStateDict(raw));
    for (const t of raw.values()) t.dispose();
  }
}

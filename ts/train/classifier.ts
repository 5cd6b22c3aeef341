// Plain cross-entropy training and evaluation for any classifier Module (JEM's baseline; the
// metrics issue's domain classifier).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad } from '../tensor/autograd.js';
import { Generator } from '../tensor/generator.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import * as F from '../nn/functional.js';
import type { Module } from '../nn/module.js';
import type { Augmentation, ImageDataset } from '../data/dataset.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { trainLoop, type StepRecord } from './loop.js';
import { Adam, SGD, clipGradNorm, type Optimizer } from './optim.js';
import { linearWarmup, type Schedule } from './schedule.js';
import { streamSeed } from './seeds.js';
import { BatchStream } from './stream.js';
import { native } from '../tensor/binding.js';
import { runJob } from '../tensor/jobs.js';
import { WideResNet } from '../nn/wideresnet.js';

/** Anything with logits = forward(x). */
export type Classifier = Module & { forward(x: Tensor): Tensor };

export interface ClassifierTrainOptions {
  train: ImageDataset;
  valid?: ImageDataset;
  steps: number;
  /** Default 64. */
  batchSize?: number;
  /** Default 'adam' (lr 1e-3); 'sgd' uses momentum 0.9. */
  optimizer?: 'adam' | 'sgd';
  /** Default 1e-3 (adam) or 0.1 (sgd). */
  lr?: number;
  weightDecay?: number;
  /** Overrides the default schedule (linear warmup over `warmup` steps, then constant). */
  schedule?: Schedule;
  warmup?: number;
  clipNorm?: number;
  augment?: Augmentation;
  /** Drives data order, augmentation and dropout. Default 0. */
  seed?: number;
  /** Checkpoints (latest/best), log.jsonl and config.json go here. */
  dir?: string;
  /** Continue from dir/latest.safetensors when it exists. */
  resume?: boolean;
  checkpointEvery?: number;
  evalEvery?: number;
  signal?: AbortSignal;
  /**
   * Run each step as one native job (forward, loss, backward, clipping and the Adam update on a
   * worker thread) when the model is a compiled WideResNet and the optimizer Adam. Default true;
   * false runs the same math step by step from TypeScript (identical numbers).
   */
  nativeStep?: boolean;
}

export interface ClassifierEval {
  accuracy: number;
  nll: number;
  n: number;
}

/** Accuracy and mean NLL over a data set (eval mode, no augmentation). */
export function evaluateClassifier(model: Classifier, data: ImageDataset, opts: { batchSize?: number; noise?: number } = {}): ClassifierEval {
  const was = model.training;
  model.eval();
  let correct = 0;
  let nll = 0;
  try {
    noGrad(() => {
      for (const { x, y } of data.batches({ batchSize: opts.batchSize ?? 256, shuffle: false, augment: opts.noise ? { noise: opts.noise } : undefined })) {
        tidy(() => {
          const logits = model.forward(x);
          correct += logits.argmax(1).eq(y).sum().item();
          nll += F.crossEntropy(logits, y, { reduction: 'sum' }).item();
        });
        x.dispose();
        y.dispose();
      }
    });
  } finally {
    model.train(was);
  }
  return { accuracy: correct / data.size, nll: nll / data.size, n: data.size };
}

/** Trains with cross-entropy; yields a record per step (with `eval` on evaluation steps). */
export async function* trainClassifier(model: Classifier, o: ClassifierTrainOptions): AsyncGenerator<StepRecord> {
  const seed = o.seed ?? 0;
  const batchSize = o.batchSize ?? 64;
  const kind = o.optimizer ?? 'adam';
  const lr = o.lr ?? (kind === 'adam' ? 1e-3 : 0.1);
  const opt: Optimizer = kind === 'adam' ? new Adam(model.parameters(), { lr, weightDecay: o.weightDecay ?? 0 }) : new SGD(model.parameters(), { lr, momentum: 0.9, weightDecay: o.weightDecay ?? 0 });
  const schedule = o.schedule ?? linearWarmup(lr, o.warmup ?? 0);
  const config = { trainer: 'classifier', steps: o.steps, batchSize, optimizer: kind, lr, weightDecay: o.weightDecay ?? 0, warmup: o.warmup ?? 0, clipNorm: o.clipNorm ?? null, augment: o.augment ?? null, seed, train: o.train.name, trainSize: o.train.size, valid: o.valid?.name ?? null, model: model.describe() };
  let best = -Infinity;
  let startStep = 0;
  const latest = o.dir ? join(o.dir, 'latest.safetensors') : undefined;
  if (o.resume && latest && existsSync(latest)) {
    const info = await loadCheckpoint(latest, { model, optimizer: opt });
    startStep = info.step;
    best = Number(info.values.bestAccuracy ?? -Infinity);
  }
  // Data order is a function of (seed, epoch) and augmentation of (seed, step): a resumed run
  // sees exactly the batches an uninterrupted one would.
  const stream = new BatchStream(o.train, batchSize, seed);
  const save = async (step: number, name: string, acc?: number) => {
    const path = join(o.dir!, name);
    await saveCheckpoint(path, { model, optimizer: opt }, { step, config, values: { bestAccuracy: Math.max(best, acc ?? -Infinity) } });
    return path;
  };
  const useNative = (o.nativeStep ?? true) && model instanceof WideResNet && opt instanceof Adam;
  const nativeStep = async (x: Tensor, y: Tensor): Promise<{ loss: number; gradNorm?: number }> => {
    const m = model as WideResNet;
    const { expAvg, expAvgSq, settings } = (opt as Adam).beginNativeStep();
    m.countBatchNorm();
    return runJob<{ loss: number; gradNorm?: number }>(() =>
      native.classifierStepAsync(m.program.native, x.native, y.native, opt.params.map((p) => p.native), expAvg.map((t) => t.native), expAvgSq.map((t) => t.native), { ...settings, clip: o.clipNorm ?? 0 }, m.generator?.native),
    );
  };
  model.train();
  try {
    yield* trainLoop({
      steps: o.steps,
      startStep,
      dir: o.dir,
      config,
      signal: o.signal,
      evalEvery: o.valid ? o.evalEvery ?? 500 : undefined,
      checkpointEvery: o.checkpointEvery ?? 1000,
      evaluate: o.valid
        ? async (step) => {
            const r = evaluateClassifier(model, o.valid!);
            if (r.accuracy > best && o.dir) {
              best = r.accuracy;
              await save(step, 'best.safetensors', r.accuracy);
            }
            return { accuracy: r.accuracy, nll: r.nll };
          }
        : undefined,
      checkpoint: o.dir ? (step) => save(step, 'latest.safetensors') : undefined,
      step: async (step) => {
        opt.lr = schedule(step);
        const { x, y } = stream.at(step);
        const g = new Generator(streamSeed(seed, 'augment', step));
        if (useNative) {
          const xa = o.augment ? o.train.augmentBatch(x, o.augment, g) : x;
          try {
            const r = await nativeStep(xa, y);
            return { loss: r.loss, lr: opt.lr, gradNorm: r.gradNorm };
          } finally {
            for (const t of new Set([x, y, xa])) t.dispose();
          }
        }
        return tidy(() => {
          const xa = o.augment ? o.train.augmentBatch(x, o.augment, g) : x;
          const loss = F.crossEntropy(model.forward(xa), y);
          opt.zeroGrad();
          loss.backward();
          const gradNorm = o.clipNorm ? clipGradNorm(opt.params, o.clipNorm) : undefined;
          opt.step();
          x.dispose();
          y.dispose();
          return { loss: loss.item(), lr: opt.lr, gradNorm };
        });
      },
    });
  } finally {
    opt.dispose();
  }
}

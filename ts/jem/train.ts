// JEM training (Grathwohl et al. 2020) on the shared trainer: per step two data batches (one for
// p(x), one labelled for p(y|x)), chains from the replay buffer run SGLD on E(x) in eval mode, and
//   L = w_ce·CE(f(x_lab), y) + w_px·(mean E(x_data) − mean E(x_sample)) [+ w_pxy·(…)] [+ λ·(E_d² + E_q²)]
// is minimised with Adam (warmup, step decay). A divergence guard stops with a report or rolls
// back to the last checkpoint with a seed derived from (run seed, roll-back count).
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cat } from '../tensor/creation.js';
import { Generator } from '../tensor/generator.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/dtype.js';
import { supportedComputeDtype, type ComputeDtype } from '../tensor/runtime.js';
import { WideResNet } from '../nn/wideresnet.js';
import * as F from '../nn/functional.js';
import type { ImageDataset } from '../data/dataset.js';
import { savePngGrid } from '../data/png.js';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { evaluateClassifier, type Classifier } from '../train/classifier.js';
import { trainLoop, TrainingDivergedError, type StepRecord } from '../train/loop.js';
import { Adam } from '../train/optim.js';
import { linearWarmup, stepDecay } from '../train/schedule.js';
import { streamSeed } from '../train/seeds.js';
import { BatchStream } from '../train/stream.js';
import { energyFromLogits } from './energy.js';
import { ReplayBuffer } from './buffer.js';
import { sgld } from './sgld.js';

export interface JemRecipe {
  batchSize: number;
  lr: number;
  /** lr·step/warmup for step < warmup (the first update uses lr 0, as the official code). */
  warmup: number;
  /** Multiply lr by decayFactor at these epochs (official: 160, 180 of 200; ×0.3). */
  decayEpochs: number[];
  decayFactor: number;
  ceWeight: number;
  pxWeight: number;
  /** The class-conditional term; needs classCond (a per-class buffer). Default 0. */
  pxyWeight: number;
  /** λ·(mean E_data² + mean E_sample²): the author's suggestion against divergence. Default 0. */
  energyL2: number;
  sgldSteps: number;
  sgldStepSize: number;
  sgldNoise: number;
  /** The SGLD chains' compute dtype (SgldOptions.computeDtype). Default 'float32'. */
  sgldComputeDtype: ComputeDtype | 'auto';
  /**
   * The loss forward and backward's compute dtype: 'bfloat16' = mixed precision with float32 master
   * weights, optimizer state and loss (needs a WideResNet; see ForwardOptions). Default 'float32'.
   */
  computeDtype: ComputeDtype | 'auto';
  bufferSize: number;
  reinitFreq: number;
  /** Gaussian noise σ added to data inputs (train and evaluation), official 0.03. */
  dataNoise: number;
  flip: boolean;
  /** Reflect-pad-and-crop shift (official 4). */
  cropPad: number;
  /** Class-conditional buffer and chains for p(x) (official flag, default off). */
  classCond: boolean;
}

/**
 * The official recipe for WRN-28-10 (Adam 1e-4, warmup 1000, ×0.3 at epochs 160/180, buffer 10,000,
 * 20 SGLD steps α 1 σ 0.01, data noise 0.03, pad-4 crops and flips) and a CPU-sized one for small
 * WRNs: a 2,000-sample buffer (the official 10k is barely revisited in a short run) and warmup 200.
 */
export function jemRecipe(preset?: string): JemRecipe {
  const official: JemRecipe = {
    batchSize: 64, lr: 1e-4, warmup: 1000, decayEpochs: [160, 180], decayFactor: 0.3, ceWeight: 1, pxWeight: 1, pxyWeight: 0, energyL2: 0,
    sgldSteps: 20, sgldStepSize: 1, sgldNoise: 0.01, sgldComputeDtype: 'float32', computeDtype: 'float32', bufferSize: 10000, reinitFreq: 0.05, dataNoise: 0.03, flip: true, cropPad: 4, classCond: false,
  };
  if (preset === 'wrn28-10' || preset === undefined) return official;
  return { ...official, warmup: 200, bufferSize: 2000, decayEpochs: [] };
}

export interface DivergenceGuard {
  /** |L| above this is a blow-up (official: 1e8). */
  lossBound?: number;
  /** |E| of data or samples above this is a blow-up (off by default). */
  energyBound?: number;
  /** 'stop' (default): throw TrainingDivergedError with a report; 'rollback': reload the last checkpoint with a new seed. */
  action?: 'stop' | 'rollback';
  /** Roll-backs allowed before stopping (default 3). */
  maxRollbacks?: number;
}

export interface JemTrainOptions extends Partial<JemRecipe> {
  train: ImageDataset;
  valid?: ImageDataset;
  steps: number;
  seed?: number;
  /** latest/best checkpoints (with the buffer), log.jsonl, config.json and samples/. */
  dir?: string;
  resume?: boolean;
  checkpointEvery?: number;
  evalEvery?: number;
  /** A grid of 64 buffer samples every k steps (default: checkpointEvery; 0 = never). */
  sampleEvery?: number;
  guard?: DivergenceGuard;
  device?: Device;
  meta?: Record<string, unknown>;
  signal?: AbortSignal;
}

/** A step record; `samples` names the buffer grid on sampling steps, `rollback` marks a roll-back. */
export type JemStepRecord = StepRecord & { samples?: string; rollback?: { to: number; count: number; seed: number } };

export async function* trainJem(model: Classifier, o: JemTrainOptions): AsyncGenerator<JemStepRecord> {
  const preset = typeof o.meta?.preset === 'string' ? o.meta.preset : undefined;
  const base = jemRecipe(preset);
  const r: JemRecipe = { ...base, ...Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k in base)) };
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new RangeError(`trainJem: steps must be a positive integer, got ${o.steps}`);
  if (r.pxyWeight > 0 && !r.classCond) throw new RangeError('trainJem: pxyWeight > 0 needs classCond (a class-conditional buffer)');
  const guard = { lossBound: 1e8, action: 'stop' as const, maxRollbacks: 3, ...o.guard };
  if (guard.action === 'rollback' && !o.dir) throw new RangeError('trainJem: guard.action "rollback" needs a run folder (dir) for checkpoints');
  const seed = o.seed ?? 0;
  const dev = o.device ?? 'cpu';
  // Mixed precision needs the WideResNet's native program: explicit bf16 elsewhere throws, 'auto' falls back.
  const mixed = (field: 'computeDtype' | 'sgldComputeDtype'): ComputeDtype =>
    supportedComputeDtype(r[field], dev, model instanceof WideResNet, `trainJem: ${field}`, 'needs a WideResNet (its native program)');
  r.computeDtype = mixed('computeDtype');
  r.sgldComputeDtype = mixed('sgldComputeDtype');
  const forward = (x: Tensor) => (r.computeDtype === 'float32' ? model.forward(x) : (model as WideResNet).forward(x, { computeDtype: r.computeDtype }));
  const shape = o.train.imageShape;
  const classes = Number((model as { config?: { classes?: number } }).config?.classes ?? 10);
  const perEpoch = Math.floor(o.train.size / r.batchSize);
  const opt = new Adam(model.parameters(), { lr: r.lr });
  const schedule = linearWarmup(r.lr, r.warmup, stepDecay(r.lr, r.decayEpochs.map((e) => e * perEpoch), r.decayFactor));
  const buffer = new ReplayBuffer({ size: r.bufferSize, shape, reinitFreq: r.reinitFreq, classes: r.classCond ? classes : undefined, generator: new Generator(streamSeed(seed, 'buffer')) });
  const config = { trainer: 'jem', steps: o.steps, seed, ...r, guard, train: o.train.name, trainSize: o.train.size, valid: o.valid?.name ?? null, model: model.describe(), ...o.meta };
  const latest = o.dir ? join(o.dir, 'latest.safetensors') : undefined;
  let best = -Infinity;
  let rollbacks = 0;
  let startStep = 0;
  const save = async (step: number, name: string) => {
    const path = join(o.dir!, name);
    await saveCheckpoint(path, { model, optimizer: opt, extra: { buffer: buffer.data } }, { step, config, values: { bestAccuracy: best, rollbacks } });
    return path;
  };
  const load = async (): Promise<number> => {
    const info = await loadCheckpoint(latest!, { model, optimizer: opt });
    const b = info.extra.get('buffer');
    try {
      if (!b || b.shape.join() !== buffer.data.shape.join()) throw new Error(`${latest}: has no replay buffer of shape [${buffer.data.shape.join(', ')}]`);
      buffer.data.copy_(b);
    } finally {
      for (const t of info.extra.values()) t.dispose();
    }
    best = Number(info.values.bestAccuracy ?? -Infinity);
    rollbacks = Math.max(rollbacks, Number(info.values.rollbacks ?? 0));
    return info.step;
  };
  if (o.resume && latest && existsSync(latest)) startStep = await load();
  else if (guard.action === 'rollback') {
    mkdirSync(o.dir!, { recursive: true });
    await save(0, 'latest.safetensors'); // something to roll back to before the first periodic checkpoint
  }
  const toDevice = (x: Tensor) => {
    if (dev === 'cpu') return x;
    const d = x.to(dev);
    x.dispose();
    return d;
  };
  const augment = { flip: r.flip, cropPad: r.cropPad, noise: r.dataNoise };
  const grid = async (step: number) => {
    const dir = join(o.dir!, 'samples');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `step-${String(step).padStart(7, '0')}.png`);
    const x = buffer.data.slice(0, 0, Math.min(64, buffer.size));
    await savePngGrid(path, x, { scale: shape[1] <= 32 ? 2 : 1 });
    x.dispose();
    return path;
  };
  model.train();
  try {
    for (;;) {
      // After a roll-back every stream (data order, augmentation, buffer draws, SGLD noise) is reseeded.
      const runSeed = rollbacks ? streamSeed(seed, 'rollback', rollbacks) : seed;
      const px = new BatchStream(o.train, r.batchSize, runSeed, 'px-order');
      const lab = new BatchStream(o.train, r.batchSize, runSeed, 'label-order');
      try {
        for await (const rec of trainLoop({
          steps: o.steps,
          startStep,
          dir: o.dir,
          config,
          signal: o.signal,
          evalEvery: o.valid ? o.evalEvery ?? 500 : undefined,
          evaluate: o.valid
            ? async (step) => {
                const e = evaluateClassifier(model, o.valid!, { noise: r.dataNoise });
                if (e.accuracy > best && o.dir) {
                  best = e.accuracy;
                  await save(step, 'best.safetensors');
                }
                return { accuracy: e.accuracy, nll: e.nll };
              }
            : undefined,
          checkpointEvery: o.checkpointEvery ?? 1000,
          checkpoint: o.dir ? (step) => save(step, 'latest.safetensors') : undefined,
          step: (step) => {
            opt.lr = schedule(step);
            const g = new Generator(streamSeed(runSeed, 'step', step));
            const d = px.at(step);
            const l = lab.at(step);
            d.y.dispose();
            const xd = toDevice(o.train.augmentBatch(d.x, augment, g));
            const xl = toDevice(o.train.augmentBatch(l.x, augment, g));
            const yl = toDevice(l.y);
            d.x.dispose();
            l.x.dispose();
            // Chains from the buffer: SGLD in eval mode, every final sample written back. Without a
            // p(x) term (the CE baseline under identical data handling) there is nothing to sample.
            const sampling = r.pxWeight !== 0;
            const start = sampling ? buffer.sample(r.batchSize, { generator: g }) : undefined;
            const sgldOpts = { steps: r.sgldSteps, stepSize: r.sgldStepSize, noise: r.sgldNoise, generator: g, computeDtype: r.sgldComputeDtype };
            const xq = start ? sgld(model, toDevice(start.x), { ...sgldOpts, y: r.classCond ? start.y : undefined }) : undefined;
            if (start && xq) buffer.update(start.indices, xq);
            let xqLab: Tensor | undefined;
            let lab2: ReturnType<ReplayBuffer['sample']> | undefined;
            if (r.pxyWeight > 0) {
              const yCpu = yl.cpu();
              lab2 = buffer.sample(r.batchSize, { y: yCpu, generator: g });
              yCpu.dispose();
              xqLab = sgld(model, toDevice(lab2.x), { ...sgldOpts, y: yl });
              buffer.update(lab2.indices, xqLab);
            }
            try {
              return tidy(() => {
                const n = r.batchSize;
                // The official order (p(x) batch first, then the labelled one) matters with batch norm.
                const eAll = xq ? energyFromLogits(forward(cat([xd, xq]))) : undefined;
                const logits = forward(xl);
                // The CE baseline logs the labelled batch's energy instead (no extra forward).
                const e = eAll ?? energyFromLogits(logits);
                const eData = e.slice(0, 0, n);
                const eSample = xq ? e.slice(0, n) : eData;
                const lpx = eData.mean().sub(eSample.mean());
                const ce = F.crossEntropy(logits, yl);
                let loss = xq ? ce.mul(r.ceWeight).add(lpx.mul(r.pxWeight)) : ce.mul(r.ceWeight);
                const terms: Record<string, number> = {};
                if (xqLab) {
                  const lpxy = energyFromLogits(logits, yl).mean().sub(energyFromLogits(forward(xqLab), yl).mean());
                  loss = loss.add(lpxy.mul(r.pxyWeight));
                  terms.lpxy = lpxy.item();
                }
                if (r.energyL2 > 0) loss = loss.add(eData.square().mean().add(eSample.square().mean()).mul(r.energyL2));
                const L = loss.item();
                Object.assign(terms, { ce: ce.item(), lpx: lpx.item(), eData: eData.mean().item(), eSample: eSample.mean().item(), acc: logits.argmax(1).eq(yl).float().mean().item() });
                const eMax = Math.max(eData.abs().max().item(), eSample.abs().max().item());
                if (!Number.isFinite(L) || Math.abs(L) > guard.lossBound || (guard.energyBound !== undefined && eMax > guard.energyBound))
                  throw new TrainingDivergedError(step + 1, L, { ...terms, maxAbsEnergy: eMax });
                opt.zeroGrad();
                loss.backward();
                opt.step();
                return { loss: L, lr: opt.lr, terms };
              });
            } finally {
              for (const t of [xd, xl, yl, xq, start?.x, start?.indices, start?.y, xqLab, lab2?.x, lab2?.indices]) t?.dispose();
            }
          },
        })) {
          const out: JemStepRecord = rec;
          if (o.dir && (o.sampleEvery ?? o.checkpointEvery ?? 1000) > 0 && rec.step % (o.sampleEvery ?? o.checkpointEvery ?? 1000) === 0) out.samples = await grid(rec.step);
          yield out;
        }
        return;
      } catch (e) {
        if (!(e instanceof TrainingDivergedError)) throw e;
        const rollBack = guard.action === 'rollback' && rollbacks < guard.maxRollbacks;
        if (o.dir) appendFileSync(join(o.dir, 'log.jsonl'), JSON.stringify({ event: 'diverged', step: e.step, loss: String(e.loss), terms: e.terms, action: rollBack ? 'rollback' : 'stop' }) + '\n');
        if (!rollBack) throw e;
        rollbacks++;
        startStep = await load();
        const event = { event: 'rollback', divergedAt: e.step, to: startStep, count: rollbacks, seed: streamSeed(seed, 'rollback', rollbacks) };
        appendFileSync(join(o.dir!, 'log.jsonl'), JSON.stringify(event) + '\n');
        yield { step: startStep, loss: e.loss, terms: e.terms, lr: opt.lr, stepsPerSec: 0, eta: Infinity, rollback: { to: startStep, count: rollbacks, seed: event.seed } };
      }
    }
  } finally {
    opt.dispose();
    buffer.dispose();
  }
}

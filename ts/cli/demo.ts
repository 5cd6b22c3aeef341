// `langevin demo`: samples Fashion-MNIST clothing with DDIM from the small pretrained DDPM that
// ships with the package (trained with langevin itself: artifacts/ddpm-fmnist-tiny/README.md),
// then fine-tunes it live for a few dozen steps to show the training loop. ≤ 5 minutes on 2 cores.
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildInfo, setNumThreads } from '../tensor/index.js';
import { fashionMnist } from '../data/mnist.js';
import { savePngGrid } from '../data/png.js';
import { loadDdpm } from '../diffusion/checkpoint.js';
import { sample, toUint8 } from '../diffusion/sample.js';
import { trainDdpm } from '../diffusion/train.js';
import { formatSeconds, progressLine } from './progress.js';

export const DEMO_WEIGHTS = fileURLToPath(new URL('../../artifacts/ddpm-fmnist-tiny/model.safetensors', import.meta.url));

export interface DemoOptions {
  signal?: AbortSignal;
  threads?: number;
  /** Output folder (default ./langevin-demo). */
  out?: string;
  /** Images in the grid (default 36) and DDIM steps (default 50). */
  count?: number;
  steps?: number;
  /** Live training steps (default 50). */
  trainSteps?: number;
  log: (s: string) => void;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const { log } = opts;
  const t0 = performance.now();
  setNumThreads(opts.threads ?? availableParallelism());
  const info = buildInfo();
  log(`langevin on libtorch ${info.libtorch} (${info.cudaAvailable ? 'CUDA' : 'CPU'}), ${info.threads} thread(s)\n`);
  if (!existsSync(DEMO_WEIGHTS)) throw new Error(`the demo weights are missing (${DEMO_WEIGHTS}); reinstall the package`);
  const out = resolve(opts.out ?? 'langevin-demo');
  mkdirSync(out, { recursive: true });

  const { model, diffusion, step, config } = await loadDdpm(DEMO_WEIGHTS, { weights: 'ema' });
  log(`1/2 sampling: a ${model.parameterCount().toLocaleString('en')}-parameter DDPM U-Net trained ${step} steps on ${String(config.data ?? 'Fashion-MNIST')} by langevin (EMA weights)\n`);
  const count = opts.count ?? 36;
  const steps = opts.steps ?? 50;
  const bar = progressLine(`    DDIM ${steps} steps, ${count} images`, process.stderr, 25);
  const t1 = performance.now();
  const { x } = await sample(model, diffusion, { count, sampler: 'ddim', steps, seed: 0, signal: opts.signal, progressEvery: 1, onProgress: (p) => bar.update(p.step, p.total) });
  bar.done();
  const grid = join(out, 'samples.png');
  const u8 = toUint8(x);
  await savePngGrid(grid, u8, { nrow: Math.ceil(Math.sqrt(count)), scale: 2 });
  u8.dispose();
  x.dispose();
  log(`    ${count} samples in ${formatSeconds((performance.now() - t1) / 1000)} → ${grid}\n`);

  const trainSteps = opts.trainSteps ?? 50;
  log(`2/2 training: ${trainSteps} more steps on Fashion-MNIST (L_simple, Adam, EMA) — the loop \`langevin ddpm train\` runs\n`);
  const train = await fashionMnist({ split: 'train' });
  const tbar = progressLine('    train', process.stderr, 10);
  let last = 0;
  const t2 = performance.now();
  model.train();
  for await (const r of trainDdpm(model, diffusion, { train, steps: trainSteps, batchSize: 32, lr: 1e-4, warmup: 0, emaDecay: 0.999, seed: 1, signal: opts.signal, evalEvery: 0, sampleEvery: 0 })) {
    last = r.loss;
    tbar.update(r.step, trainSteps, `loss ${r.loss.toFixed(4)} ${r.stepsPerSec.toFixed(1)} it/s eta ${formatSeconds(r.eta)}`);
  }
  tbar.done();
  train.dispose();
  log(`    ${trainSteps} steps in ${formatSeconds((performance.now() - t2) / 1000)}, last loss ${last.toFixed(4)}\n`);
  log(`done in ${formatSeconds((performance.now() - t0) / 1000)}. Open ${grid}\n`);
  log(`next: langevin ddpm train --out runs/mine --steps 2000   (see langevin ddpm --help)\n`);
  return 0;
}

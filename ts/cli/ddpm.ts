// `langevin ddpm train | sample | bpd`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Generator, cat, getNumThreads, tidy, type Tensor } from '../tensor/index.js';
import { openDataset, DATA_SPECS } from '../data/spec.js';
import { savePngGrid } from '../data/png.js';
import { writeSafetensors } from '../io/safetensors.js';
import { presets, unet, type PresetName } from '../nn/presets.js';
import type { UNetConfig } from '../nn/unet.js';
import { streamSeed } from '../train/seeds.js';
import { GaussianDiffusion, type DiffusionOptions } from '../diffusion/gaussian.js';
import { ddpmRecipe, trainDdpm, type DdpmRecipe } from '../diffusion/train.js';
import { sample, toUint8, type SamplerKind } from '../diffusion/sample.js';
import { exportDdpm, loadDdpm, type WeightsChoice } from '../diffusion/checkpoint.js';
import { bitsPerDim } from '../diffusion/vlb.js';
import { formatSeconds, progressLine } from './progress.js';
import { common, computeDtypeArg, device, num, oneOf, threads } from './args.js';

type Log = (s: string) => void;

export const ddpmUsage = `langevin ddpm <train|sample|bpd|export> [options]

train: trains a DDPM U-Net with L_simple (checkpoints, log.jsonl, loss curve data and sample grids in --out)
  --out DIR             run folder (required); --resume continues from DIR/latest.safetensors
  --preset NAME         ddpmTiny (default), ddpmSmall, ddpmCifar10, ddpm256
  --config FILE         JSON {"model": preset name or U-Net config, "diffusion": {...}, "recipe": {...}}
  --data SPEC           ${DATA_SPECS} (default fashion-mnist; MNIST layouts are padded to 32×32)
  --steps N             total steps (required)
  --batch N, --lr X, --warmup N, --clip X, --ema X, --no-flip
                        override the preset's recipe (see ddpmRecipe)
  --schedule linear|cosine, --timesteps N, --variance fixedlarge|fixedsmall
  --seed N              drives init, data order, flips, noise, grids (default 0)
  --device cpu|cuda     (default cpu)
  --compute-dtype float32|bfloat16|auto  mixed precision: the U-Net's forward and backward in bf16,
                        weights, Adam, EMA and loss in float32 (~2.6× faster on AVX512-BF16 CPUs)
  --eval-every N        validation loss on 1024 test images (default 500; 0 = off)
  --checkpoint-every N  (default 1000); --sample-every N DDIM grids (default: checkpoint-every)
  --threads N           CPU threads (default: libtorch's choice, ${getNumThreads()} here)

sample: writes a PNG grid of samples
  CHECKPOINT            a training checkpoint (or a weights file written by saveWeights)
  --weights ema|raw     which weights (default ema; a plain weights file has one set)
  --count N             images (default 16); --seed N (default 0)
  --sampler ancestral|ddim  (default ddim); --steps N (ddim, default 50); --eta X (default 0)
  --no-clip             do not clip x̂0 to [-1, 1]
  --snapshot-every K    also write the x̂0 and x_t trajectory (every K steps) as grids
  --out FILE.png        (default samples.png); --scale N upscales each image; --device, --threads
  --out FILE.safetensors  the images as uint8 [N, C, H, W] under "samples" (for langevin metrics)
  --compute-dtype float32|bfloat16|auto  mixed precision: convolutions in bf16, norms and the update
                        in float32 (~2× faster on AVX512-BF16 CPUs); auto = bf16 where native. Default float32
  --channels-last       run the U-Net with NHWC weights and activations (with bf16: ~25% faster again
                        on AMX CPUs; the images are equivalent, not bit-identical)
  --batch N             images per sampling batch (default: all at once); batch i uses the seed
                        derived from (--seed, i), so a given --batch always gives the same images

bpd: the variational bound in bits/dim on test images (T forwards per image)
  CHECKPOINT, --weights ema|raw, --data SPEC (test split), --count N (default 256),
  --batch N (default 64), --json, --device, --threads

export: writes one set of a checkpoint's weights as a standalone file (to share or ship)
  CHECKPOINT, --weights ema|raw (default ema), --out FILE.safetensors (required)`;

export async function runDdpm(argv: string[], log: Log, signal: AbortSignal): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    log(ddpmUsage + '\n');
    return sub ? 0 : 1;
  }
  if (sub === 'train') return train(rest, log, signal);
  if (sub === 'sample') return sampleCmd(rest, log, signal);
  if (sub === 'bpd') return bpdCmd(rest, log, signal);
  if (sub === 'export') return exportCmd(rest, log);
  throw new RangeError(`unknown ddpm command '${sub}' (train, sample, bpd, export)`);
}

interface RunConfig {
  model?: PresetName | UNetConfig;
  diffusion?: DiffusionOptions;
  recipe?: Partial<DdpmRecipe>;
}

async function train(argv: string[], log: Log, signal: AbortSignal): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: false,
    strict: true,
    options: {
      ...common,
      out: { type: 'string' },
      resume: { type: 'boolean' },
      preset: { type: 'string' },
      config: { type: 'string' },
      data: { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      warmup: { type: 'string' },
      clip: { type: 'string' },
      ema: { type: 'string' },
      'no-flip': { type: 'boolean' },
      schedule: { type: 'string' },
      timesteps: { type: 'string' },
      variance: { type: 'string' },
      'eval-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'sample-every': { type: 'string' },
      'compute-dtype': { type: 'string' },
    },
  });
  void positionals;
  if (v.help) return log(ddpmUsage + '\n'), 0;
  if (!v.out) throw new RangeError('ddpm train: --out DIR is required');
  const steps = num(v.steps, 'steps', { int: true, min: 1 });
  if (!steps) throw new RangeError('ddpm train: --steps N is required');
  threads(v.threads);
  const dev = device(v.device);
  const computeDtype = computeDtypeArg(v['compute-dtype'], dev);
  const seed = num(v.seed, 'seed', { int: true, min: 0 }) ?? 0;
  let cfg: RunConfig = {};
  if (v.config) {
    try {
      cfg = JSON.parse(readFileSync(v.config, 'utf8'));
    } catch (e) {
      throw new RangeError(`--config ${v.config}: ${(e as Error).message}`);
    }
  }
  const presetName = v.preset ?? (typeof cfg.model === 'string' ? cfg.model : cfg.model ? undefined : 'ddpmTiny');
  if (presetName && (!(presetName in presets) || presets[presetName as PresetName].kind !== 'unet'))
    throw new RangeError(`--preset must be a U-Net preset (${Object.keys(presets).filter((k) => presets[k as PresetName].kind === 'unet').join(', ')}), got '${presetName}'`);
  const modelConfig = presetName ? (presetName as PresetName) : (cfg.model as UNetConfig);
  const diffusion = new GaussianDiffusion({
    ...cfg.diffusion,
    ...(v.schedule ? { schedule: oneOf(v.schedule, 'schedule', ['linear', 'cosine'] as const) } : {}),
    ...(v.timesteps ? { timesteps: num(v.timesteps, 'timesteps', { int: true, min: 1 }) } : {}),
    ...(v.variance ? { variance: oneOf(v.variance, 'variance', ['fixedlarge', 'fixedsmall'] as const) } : {}),
  });
  const recipe: Partial<DdpmRecipe> = {
    ...ddpmRecipe(presetName),
    ...cfg.recipe,
    ...(v.batch ? { batchSize: num(v.batch, 'batch', { int: true, min: 1 }) } : {}),
    ...(v.lr ? { lr: num(v.lr, 'lr', { min: 0 }) } : {}),
    ...(v.warmup ? { warmup: num(v.warmup, 'warmup', { int: true, min: 0 }) } : {}),
    ...(v.clip ? { clipNorm: num(v.clip, 'clip', { min: 0 }) } : {}),
    ...(v.ema ? { emaDecay: num(v.ema, 'ema', { min: 0 }) } : {}),
    ...(v['no-flip'] ? { flip: false } : {}),
  };
  const dataSpec = v.data ?? 'fashion-mnist';
  const model = typeof modelConfig === 'string' ? unet(modelConfig, { generator: new Generator(streamSeed(seed, 'init')) }) : unet({ ...modelConfig, generator: new Generator(streamSeed(seed, 'init')) });
  const trainSet = await openDataset(dataSpec, 'train', { channels: model.config.inChannels === 1 ? 1 : 3 });
  const shape = trainSet.imageShape;
  const want = [model.config.inChannels, model.config.resolution, model.config.resolution];
  if (shape.join() !== want.join()) throw new RangeError(`data ${dataSpec} has images [${shape.join(', ')}] but the model wants [${want.join(', ')}]`);
  let valid;
  const evalEvery = num(v['eval-every'], 'eval-every', { int: true, min: 0 }) ?? 500;
  if (evalEvery > 0 && !dataSpec.startsWith('images:')) valid = await openDataset(dataSpec, 'test');
  if (dev !== 'cpu') model.to(dev);
  const resuming = !!v.resume && existsSync(join(v.out, 'latest.safetensors'));
  log(`ddpm train: ${presetName ?? 'custom U-Net'} (${model.parameterCount().toLocaleString('en')} parameters) on ${trainSet.name} (${trainSet.size} images), ${steps} steps, batch ${recipe.batchSize}, lr ${recipe.lr}, ${getNumThreads()} thread(s), ${dev}, ${computeDtype}${resuming ? ', resuming' : ''}\n`);
  const bar = progressLine('train');
  const t0 = performance.now();
  let last;
  for await (const r of trainDdpm(model, diffusion, {
    ...recipe,
    train: trainSet,
    valid,
    steps,
    seed,
    dir: v.out,
    resume: !!v.resume,
    device: dev,
    computeDtype,
    evalEvery,
    checkpointEvery: num(v['checkpoint-every'], 'checkpoint-every', { int: true, min: 1 }),
    sampleEvery: num(v['sample-every'], 'sample-every', { int: true, min: 0 }),
    meta: { preset: presetName ?? null, data: dataSpec },
    signal,
  })) {
    last = r;
    bar.update(r.step, steps, `loss ${r.loss.toFixed(4)} ${r.stepsPerSec.toFixed(2)} it/s eta ${formatSeconds(r.eta)}`);
    if (r.eval) bar.done(`step ${r.step}: valid loss ${r.eval.loss.toFixed(4)} (EMA ${r.eval.emaLoss.toFixed(4)})`);
    if (r.samples) bar.done(`step ${r.step}: samples → ${r.samples}`);
  }
  bar.done();
  if (signal.aborted) log(`stopped; checkpoint in ${join(v.out, 'latest.safetensors')} (resume with --resume)\n`);
  else log(`done: ${last?.step ?? steps} steps in ${formatSeconds((performance.now() - t0) / 1000)}; checkpoint ${join(v.out, 'latest.safetensors')}, log ${join(v.out, 'log.jsonl')}\n`);
  return 0;
}

async function sampleCmd(argv: string[], log: Log, signal: AbortSignal): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ...common,
      weights: { type: 'string' },
      count: { type: 'string' },
      sampler: { type: 'string' },
      steps: { type: 'string' },
      eta: { type: 'string' },
      'no-clip': { type: 'boolean' },
      'snapshot-every': { type: 'string' },
      out: { type: 'string' },
      scale: { type: 'string' },
      batch: { type: 'string' },
      'compute-dtype': { type: 'string' },
      'channels-last': { type: 'boolean' },
    },
  });
  if (v.help) return log(ddpmUsage + '\n'), 0;
  if (positionals.length !== 1) throw new RangeError('ddpm sample: give one checkpoint (langevin ddpm sample run/latest.safetensors --out grid.png)');
  threads(v.threads);
  const dev = device(v.device);
  const weights = oneOf(v.weights, 'weights', ['ema', 'raw'] as const) ?? 'ema';
  const sampler = oneOf(v.sampler, 'sampler', ['ancestral', 'ddim'] as const) ?? 'ddim';
  const computeDtype = computeDtypeArg(v['compute-dtype'], dev);
  const loaded = await openForSampling(positionals[0], weights);
  if (dev !== 'cpu' || v['channels-last']) loaded.model.to({ device: dev, memoryFormat: v['channels-last'] ? 'channelsLast' : undefined });
  const count = num(v.count, 'count', { int: true, min: 1 }) ?? 16;
  const steps = sampler === 'ddim' ? num(v.steps, 'steps', { int: true, min: 1 }) ?? 50 : num(v.steps, 'steps', { int: true, min: 1 });
  const out = v.out ?? 'samples.png';
  const snapshotEvery = num(v['snapshot-every'], 'snapshot-every', { int: true, min: 1 }) ?? 0;
  log(`ddpm sample: ${count} images, ${sampler}${sampler === 'ddim' ? ` ${steps} steps η=${v.eta ?? 0}` : ` ${loaded.diffusion.T} steps`}, ${loaded.weights} weights (step ${loaded.step}), ${computeDtype}${v['channels-last'] ? ', channels-last' : ''}, ${getNumThreads()} thread(s)\n`);
  const batch = num(v.batch, 'batch', { int: true, min: 1 });
  const seed = num(v.seed, 'seed', { int: true, min: 0 }) ?? 0;
  const toTensorFile = /\.safetensors$/i.test(out);
  if (batch !== undefined && batch < count && (snapshotEvery || !toTensorFile)) throw new RangeError('ddpm sample: --batch below --count needs --out FILE.safetensors and no --snapshot-every');
  const bar = progressLine('sample', process.stderr, 100);
  const t0 = performance.now();
  const chunks: Tensor[] = [];
  const options = { sampler: sampler as SamplerKind, steps, eta: num(v.eta, 'eta', { min: 0 }), clip: v['no-clip'] ? false : undefined, snapshotEvery, device: dev, computeDtype, signal };
  let r: Awaited<ReturnType<typeof sample>> | undefined;
  const size = batch ?? count;
  for (let i = 0, done = 0; done < count; i++, done += size) {
    const n = Math.min(size, count - done);
    r = await sample(loaded.model, loaded.diffusion, {
      ...options,
      count: n,
      seed: batch === undefined ? seed : streamSeed(seed, 'sample-batch', i),
      onProgress: (p) => bar.update(done * p.total + p.step * n, count * p.total),
    });
    chunks.push(toUint8(r.x.cpu()));
    if (batch !== undefined) r.x.dispose();
  }
  bar.done();
  const u8 = chunks.length === 1 ? chunks[0] : cat(chunks);
  const scale = num(v.scale, 'scale', { int: true, min: 1 }) ?? 1;
  if (toTensorFile) {
    await writeSafetensors(out, { samples: u8 }, { format: 'langevin-samples', checkpoint: positionals[0], weights: loaded.weights, sampler, steps: String(steps ?? loaded.diffusion.T), seed: String(seed), computeDtype, memoryFormat: v['channels-last'] ? 'channelsLast' : 'contiguous' });
    log(`wrote ${count} images to ${out} in ${formatSeconds((performance.now() - t0) / 1000)}\n`);
    return 0;
  }
  r = r!;
  await savePngGrid(out, u8, { scale });
  if (r.snapshots.length) {
    const stem = out.replace(/\.png$/i, '');
    // One row per snapshot: x_t and x̂0 of the first 8 images.
    const rows = (key: 'x' | 'x0') => toUint8(catRows(r.snapshots.map((s) => s[key]), Math.min(8, count)));
    await savePngGrid(`${stem}-xt.png`, rows('x'), { nrow: Math.min(8, count), scale });
    await savePngGrid(`${stem}-x0.png`, rows('x0'), { nrow: Math.min(8, count), scale });
    log(`trajectory: ${stem}-xt.png, ${stem}-x0.png (rows = steps ${r.snapshots.map((s) => s.step).join(', ')})\n`);
  }
  log(`wrote ${out} in ${formatSeconds((performance.now() - t0) / 1000)}\n`);
  return 0;
}

function catRows(xs: Tensor[], n: number): Tensor {
  return tidy(() => cat(xs.map((x) => x.slice(0, 0, n).cpu())));
}

async function openForSampling(path: string, weights: WeightsChoice) {
  if (!existsSync(path)) throw new RangeError(`${path}: no such file`);
  return loadDdpm(path, { weights });
}

async function bpdCmd(argv: string[], log: Log, signal: AbortSignal): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...common, weights: { type: 'string' }, data: { type: 'string' }, count: { type: 'string' }, batch: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (v.help) return log(ddpmUsage + '\n'), 0;
  if (positionals.length !== 1) throw new RangeError('ddpm bpd: give one checkpoint (langevin ddpm bpd run/latest.safetensors)');
  threads(v.threads);
  const dev = device(v.device);
  const weights = oneOf(v.weights, 'weights', ['ema', 'raw'] as const) ?? 'ema';
  const loaded = await openForSampling(positionals[0], weights);
  if (dev !== 'cpu') loaded.model.to(dev);
  const dataSpec = v.data ?? ((loaded.config.data as string | undefined) ?? 'fashion-mnist');
  const test = await openDataset(dataSpec, 'test');
  const count = num(v.count, 'count', { int: true, min: 1 }) ?? 256;
  const data = test.take(count);
  if (!v.json) log(`ddpm bpd: ${data.size} images of ${test.name}, ${loaded.weights} weights (step ${loaded.step}), ${loaded.diffusion.T} terms per image\n`);
  const bar = progressLine('bpd', process.stderr, 100);
  const r = await bitsPerDim(loaded.model, loaded.diffusion, data, {
    batchSize: num(v.batch, 'batch', { int: true, min: 1 }) ?? 64,
    seed: num(v.seed, 'seed', { int: true, min: 0 }) ?? 0,
    device: dev,
    signal,
    onProgress: (p) => bar.update(p.step, p.total),
  });
  bar.done();
  if (v.json) log(JSON.stringify({ images: data.size, weights: loaded.weights, step: loaded.step, ...r, perT: undefined, perTerm: r.perT }, null, 2) + '\n');
  else log(`bits/dim ${r.total.toFixed(4)} ± ${r.totalStderr.toFixed(4)} (prior ${r.prior.toFixed(5)}, decoder ${r.decoder.toFixed(4)}, ${r.n} images)\n`);
  return 0;
}

async function exportCmd(argv: string[], log: Log): Promise<number> {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { help: { type: 'boolean', short: 'h' }, weights: { type: 'string' }, out: { type: 'string' } } });
  if (v.help) return log(ddpmUsage + '\n'), 0;
  if (positionals.length !== 1 || !v.out) throw new RangeError('ddpm export: give one checkpoint and --out FILE.safetensors');
  if (!existsSync(positionals[0])) throw new RangeError(`${positionals[0]}: no such file`);
  const weights = oneOf(v.weights, 'weights', ['ema', 'raw'] as const) ?? 'ema';
  await exportDdpm(positionals[0], v.out, { weights });
  log(`wrote the ${weights} weights of ${positionals[0]} to ${v.out}\n`);
  return 0;
}

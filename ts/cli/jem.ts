// `langevin jem train | eval | sample`.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Generator, cat, full, getNumThreads, noGrad, rand, tidy, type ComputeDtype, type Tensor } from '../tensor/index.js';
import { openDataset, DATA_SPECS } from '../data/spec.js';
import { savePngGrid } from '../data/png.js';
import type { ImageDataset } from '../data/dataset.js';
import { presets, wideResNet, type PresetName } from '../nn/presets.js';
import * as F from '../nn/functional.js';
import { savePlot } from '../train/plot.js';
import { streamSeed } from '../train/seeds.js';
import { jemRecipe, trainJem, type JemRecipe } from '../jem/train.js';
import { loadJem } from '../jem/checkpoint.js';
import { auroc, calibration, datasetScores, oodSets, pgdAccuracy, saveReliabilityDiagram, type OodScores } from '../jem/eval.js';
import { sgld } from '../jem/sgld.js';
import { formatSeconds, progressLine } from './progress.js';
import { COMPUTE_DTYPES, common, computeDtypeArg, device, num, oneOf, threads } from './args.js';

type Log = (s: string) => void;

export const jemUsage = `langevin jem <train|eval|sample> [options]

train: JEM (CE + p(x) through SGLD from a replay buffer) on a Wide-ResNet
  --out DIR             run folder (required); --resume continues from DIR/latest.safetensors
  --preset NAME         wrn10-2 (default, CPU-sized) or wrn28-10 (the paper's)
  --data SPEC           ${DATA_SPECS} (default fashion-mnist)
  --valid N             images held out for validation / the best checkpoint (default 5000)
  --steps N             total steps (required)
  --batch N, --lr X, --warmup N, --buffer N, --reinit X, --sgld-steps N, --sgld-step X,
  --sgld-noise X, --compute-dtype float32|bfloat16|auto (mixed precision for the SGLD chains and the
  loss's forward/backward, float32 weights and Adam; ~2× faster in bf16 on AVX512-BF16 CPUs), --noise X (data noise σ), --px-weight X (0 = the CE baseline), --ce-weight X,
  --energy-l2 X, --class-cond, --no-flip, --crop N
                        override the preset's recipe (see jemRecipe)
  --exclude-classes L   train without these classes (e.g. 8,9) for the held-out-class OOD test
  --guard stop|rollback what to do on a blow-up (|L| > 1e8 or NaN; default stop); --energy-bound X
  --seed N, --device cpu|cuda, --threads N
  --eval-every N (default 500), --checkpoint-every N (default 1000), --sample-every N

eval: accuracy, calibration, OOD detection and PGD robustness of a checkpoint on the test split
  CHECKPOINT            a JEM or classifier checkpoint, or a WRN weights file
  --metrics LIST        acc,ece,ood,pgd (default all)
  --data SPEC           (default: the run's, else fashion-mnist); --count N test images (default all)
  --noise X             input noise σ as the official test transform (default: the run's, else 0.03)
  --bins N              ECE bins (default 20; 15 is also reported)
  --ood LIST            uniform,gaussian,interp,inverted,vflip (default all), heldout (the classes the
                        run excluded; in-distribution becomes the other classes) and/or any data spec
  --pgd-norm linf|l2, --pgd-eps LIST (pixel units of [0,1]), --pgd-steps N (20), --pgd-restarts N (1),
  --pgd-count N (500), --defense N (JEM-n: N SGLD refinement steps over 5 noisy copies, logits averaged)
  --out DIR             reliability.png, pgd.png and eval.json (default: next to the checkpoint)
  --json                print the JSON

sample: SGLD samples as a PNG grid
  CHECKPOINT, --count N (default 64), --rounds N of --sgld-steps K (default 10 × 20),
  --from buffer|noise (default buffer when the checkpoint has one), --class N (class-conditional),
  --out FILE.png, --seed N, --scale N, --compute-dtype float32|bfloat16|auto`;

export async function runJem(argv: string[], log: Log, signal: AbortSignal): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    log(jemUsage + '\n');
    return sub ? 0 : 1;
  }
  if (sub === 'train') return train(rest, log, signal);
  if (sub === 'eval') return evaluate(rest, log);
  if (sub === 'sample') return sampleCmd(rest, log);
  throw new RangeError(`unknown jem command '${sub}' (train, eval, sample)`);
}

async function train(argv: string[], log: Log, signal: AbortSignal): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      ...common,
      out: { type: 'string' }, resume: { type: 'boolean' }, preset: { type: 'string' }, data: { type: 'string' }, valid: { type: 'string' },
      steps: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, warmup: { type: 'string' }, buffer: { type: 'string' },
      reinit: { type: 'string' }, 'sgld-steps': { type: 'string' }, 'sgld-step': { type: 'string' }, 'sgld-noise': { type: 'string' },
      noise: { type: 'string' }, 'px-weight': { type: 'string' }, 'ce-weight': { type: 'string' }, 'energy-l2': { type: 'string' },
      'class-cond': { type: 'boolean' }, 'no-flip': { type: 'boolean' }, crop: { type: 'string' }, guard: { type: 'string' },
      'energy-bound': { type: 'string' }, 'exclude-classes': { type: 'string' }, 'eval-every': { type: 'string' }, 'checkpoint-every': { type: 'string' }, 'sample-every': { type: 'string' },
      'compute-dtype': { type: 'string' },
    },
  });
  if (v.help) return log(jemUsage + '\n'), 0;
  if (!v.out) throw new RangeError('jem train: --out DIR is required');
  const steps = num(v.steps, 'steps', { int: true, min: 1 });
  if (!steps) throw new RangeError('jem train: --steps N is required');
  threads(v.threads);
  const dev = device(v.device);
  const seed = num(v.seed, 'seed', { int: true, min: 0 }) ?? 0;
  const preset = v.preset ?? 'wrn10-2';
  if (!(preset in presets) || presets[preset as PresetName].kind !== 'wrn') throw new RangeError(`--preset must be a Wide-ResNet preset (wrn10-2, wrn28-10), got '${preset}'`);
  const o = (name: string, key: keyof JemRecipe, opts: { int?: boolean; min?: number } = {}) => (v[name as keyof typeof v] !== undefined ? { [key]: num(v[name as keyof typeof v] as string, name, opts) } : {});
  const recipe: Partial<JemRecipe> = {
    ...jemRecipe(preset),
    ...o('batch', 'batchSize', { int: true, min: 1 }), ...o('lr', 'lr', { min: 0 }), ...o('warmup', 'warmup', { int: true, min: 0 }),
    ...o('buffer', 'bufferSize', { int: true, min: 1 }), ...o('reinit', 'reinitFreq', { min: 0 }), ...o('sgld-steps', 'sgldSteps', { int: true, min: 0 }),
    ...o('sgld-step', 'sgldStepSize'), ...o('sgld-noise', 'sgldNoise', { min: 0 }), ...o('noise', 'dataNoise', { min: 0 }), ...o('px-weight', 'pxWeight'),
    ...o('ce-weight', 'ceWeight'), ...o('energy-l2', 'energyL2', { min: 0 }), ...o('crop', 'cropPad', { int: true, min: 0 }),
    ...(v['class-cond'] ? { classCond: true } : {}), ...(v['no-flip'] ? { flip: false } : {}),
    ...(v['compute-dtype'] ? mixedPrecision(computeDtypeArg(v['compute-dtype'], dev)) : {}),
  };
  const dataSpec = v.data ?? 'fashion-mnist';
  const model = wideResNet(preset as PresetName, { generator: new Generator(streamSeed(seed, 'init')) });
  const excluded = classList(v['exclude-classes'], 'exclude-classes');
  const opened = await openDataset(dataSpec, 'train', { channels: model.config.inChannels === 1 ? 1 : 3 });
  const all = excluded ? opened.byClasses(excluded, false) : opened;
  const want = [model.config.inChannels, model.config.resolution, model.config.resolution];
  if (all.imageShape.join() !== want.join()) throw new RangeError(`data ${dataSpec} has images [${all.imageShape.join(', ')}] but the model wants [${want.join(', ')}]`);
  const nValid = num(v.valid, 'valid', { int: true, min: 0 }) ?? 5000;
  const [trainSet, valid] = nValid > 0 ? all.split(nValid, new Generator(streamSeed(seed, 'split'))) : [all, undefined];
  if (dev !== 'cpu') model.to(dev);
  const guard = oneOf(v.guard, 'guard', ['stop', 'rollback'] as const) ?? 'stop';
  log(`jem train: ${preset} (${model.parameterCount().toLocaleString('en')} parameters) on ${trainSet.name} (${trainSet.size} train / ${valid?.size ?? 0} valid), ${steps} steps, batch ${recipe.batchSize}, lr ${recipe.lr}, ${recipe.computeDtype}, ${recipe.pxWeight === 0 ? 'CE only (no p(x) term)' : `SGLD ${recipe.sgldSteps} steps (${recipe.sgldComputeDtype}), buffer ${recipe.bufferSize}`}, ${getNumThreads()} thread(s)\n`);
  const bar = progressLine('train', process.stderr, 25);
  const t0 = performance.now();
  for await (const r of trainJem(model, {
    ...recipe, train: trainSet, valid, steps, seed, dir: v.out, resume: !!v.resume, device: dev, signal,
    evalEvery: num(v['eval-every'], 'eval-every', { int: true, min: 1 }), checkpointEvery: num(v['checkpoint-every'], 'checkpoint-every', { int: true, min: 1 }),
    sampleEvery: num(v['sample-every'], 'sample-every', { int: true, min: 0 }),
    guard: { action: guard, energyBound: num(v['energy-bound'], 'energy-bound', { min: 0 }) },
    meta: { preset, data: dataSpec, excludedClasses: excluded ?? null },
  })) {
    if (r.rollback) {
      bar.done(`diverged: rolled back to step ${r.rollback.to} (roll-back ${r.rollback.count}, new seed)`);
      continue;
    }
    bar.update(r.step, steps, `loss ${r.loss.toFixed(3)} ce ${r.terms.ce.toFixed(3)} E ${r.terms.eData.toFixed(2)}/${r.terms.eSample.toFixed(2)} ${r.stepsPerSec.toFixed(2)} it/s eta ${formatSeconds(r.eta)}`);
    if (r.eval) bar.done(`step ${r.step}: valid accuracy ${(100 * r.eval.accuracy).toFixed(2)}%`);
  }
  bar.done();
  if (signal.aborted) log(`stopped; checkpoint in ${join(v.out, 'latest.safetensors')} (resume with --resume)\n`);
  else log(`done in ${formatSeconds((performance.now() - t0) / 1000)}: ${join(v.out, 'latest.safetensors')}, best ${join(v.out, 'best.safetensors')}\n`);
  return 0;
}

const OOD_BUILTIN = ['uniform', 'gaussian', 'interp', 'inverted', 'vflip'] as const;

/** --compute-dtype: the whole step (SGLD chains and the loss) in one dtype. */
function mixedPrecision(d: ComputeDtype): Pick<JemRecipe, 'computeDtype' | 'sgldComputeDtype'> {
  return { computeDtype: d, sgldComputeDtype: d };
}

function classList(v: string | undefined, name: string): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((c) => num(c, name, { int: true, min: 0 })!);
}

async function evaluate(argv: string[], log: Log): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ...common, metrics: { type: 'string' }, data: { type: 'string' }, count: { type: 'string' }, noise: { type: 'string' }, bins: { type: 'string' },
      ood: { type: 'string' }, 'pgd-norm': { type: 'string' }, 'pgd-eps': { type: 'string' }, 'pgd-steps': { type: 'string' }, 'pgd-restarts': { type: 'string' },
      'pgd-count': { type: 'string' }, defense: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' },
    },
  });
  if (v.help) return log(jemUsage + '\n'), 0;
  if (positionals.length !== 1) throw new RangeError('jem eval: give one checkpoint (langevin jem eval run/best.safetensors)');
  if (!existsSync(positionals[0])) throw new RangeError(`${positionals[0]}: no such file`);
  threads(v.threads);
  const metrics = new Set((v.metrics ?? 'acc,ece,ood,pgd').split(','));
  for (const m of metrics) if (!['acc', 'ece', 'ood', 'pgd'].includes(m)) throw new RangeError(`--metrics: unknown metric '${m}' (acc, ece, ood, pgd)`);
  const { model, config, step } = await loadJem(positionals[0]);
  const dataSpec = v.data ?? (config.data as string | undefined) ?? 'fashion-mnist';
  const noise = num(v.noise, 'noise', { min: 0 }) ?? Number(config.dataNoise ?? 0.03);
  const opened = await openDataset(dataSpec, 'test');
  const excluded = Array.isArray(config.excludedClasses) ? (config.excludedClasses as number[]) : undefined;
  // A run trained without some classes is evaluated on the others; those classes are its 'heldout' OOD set.
  const full = excluded ? opened.byClasses(excluded, false) : opened;
  const count = num(v.count, 'count', { int: true, min: 1 });
  const test = count && count < full.size ? full.take(count) : full;
  const out = v.out ?? join(positionals[0], '..');
  mkdirSync(out, { recursive: true });
  const report: Record<string, unknown> = { checkpoint: positionals[0], step, data: dataSpec, n: test.size, noise };
  const g = new Generator(1);
  log(`jem eval: ${positionals[0]} (step ${step}) on ${test.size} images of ${test.name}, input noise σ ${noise}\n`);
  const inScores = datasetScores(model, test, { noise, generator: g });
  if (metrics.has('acc') || metrics.has('ece')) {
    const { conf, correct } = predictions(model, test, noise);
    const bins = num(v.bins, 'bins', { int: true, min: 1 }) ?? 20;
    const cal = calibration(conf, correct, bins);
    report.accuracy = cal.accuracy;
    log(`accuracy ${(100 * cal.accuracy).toFixed(2)}%\n`);
    if (metrics.has('ece')) {
      const cal15 = calibration(conf, correct, 15);
      report.ece = { [bins]: cal.ece, 15: cal15.ece, bins: cal.bins };
      await saveReliabilityDiagram(join(out, 'reliability.png'), cal, `reliability, ${bins} bins`);
      log(`ECE ${(100 * cal.ece).toFixed(2)}% (${bins} bins), ${(100 * cal15.ece).toFixed(2)}% (15 bins) → ${join(out, 'reliability.png')}\n`);
    }
  }
  if (metrics.has('ood')) {
    const sets = (v.ood ?? [...OOD_BUILTIN, ...(excluded ? ['heldout'] : [])].join(',')).split(',');
    const ood: Record<string, Record<keyof OodScores, number>> = {};
    const x = tidy(() => cat([...test.batches({ batchSize: 1000, shuffle: false, augment: noise ? { noise } : undefined, generator: new Generator(2) })].map((b) => (b.y.dispose(), b.x))));
    const builtin = oodSets(x, new Generator(3));
    for (const name of sets) {
      let scores: OodScores;
      if ((OOD_BUILTIN as readonly string[]).includes(name)) scores = datasetScores(model, builtin[name as (typeof OOD_BUILTIN)[number]]);
      else if (name === 'heldout') {
        if (!excluded) throw new RangeError(`--ood heldout: ${positionals[0]} was not trained with --exclude-classes`);
        scores = datasetScores(model, opened.byClasses(excluded).take(test.size), { noise, generator: g });
      }
      else scores = datasetScores(model, (await openDataset(name, 'test').catch(() => openDataset(name, 'train'))).take(test.size), { noise, generator: g });
      ood[name] = { px: auroc(inScores.px, scores.px), py: auroc(inScores.py, scores.py), pxgrad: auroc(inScores.pxgrad, scores.pxgrad) };
      log(`OOD ${name}: AUROC log p(x) ${ood[name].px.toFixed(3)}, max p(y|x) ${ood[name].py.toFixed(3)}, −‖∂log p(x)/∂x‖ ${ood[name].pxgrad.toFixed(3)}\n`);
    }
    for (const t of [x, ...Object.values(builtin)]) t.dispose();
    report.ood = ood;
  }
  if (metrics.has('pgd')) {
    const norm = oneOf(v['pgd-norm'], 'pgd-norm', ['linf', 'l2'] as const) ?? 'linf';
    const eps = (v['pgd-eps'] ?? (norm === 'linf' ? '0,0.01,0.02,0.03,0.05,0.1' : '0,0.25,0.5,1,2')).split(',').map((e) => num(e, 'pgd-eps', { min: 0 })!);
    const subset = test.take(num(v['pgd-count'], 'pgd-count', { int: true, min: 1 }) ?? 500);
    const t0 = performance.now();
    const defenseSteps = num(v.defense, 'defense', { int: true, min: 0 }) ?? 0;
    const defense = defenseSteps ? { sgldSteps: defenseSteps, generator: new Generator(6) } : undefined;
    const r = pgdAccuracy(model, subset, { norm, eps, steps: num(v['pgd-steps'], 'pgd-steps', { int: true, min: 1 }) ?? 20, restarts: num(v['pgd-restarts'], 'pgd-restarts', { int: true, min: 1 }) ?? 1, generator: new Generator(4), defense });
    if (defense) report.pgdDefense = { sgldSteps: defenseSteps, chains: 5, noise: 0.03 };
    report.pgd = r;
    await savePlot(join(out, 'pgd.png'), [{ name: `PGD ${norm}`, x: eps, y: r.accuracy.map((a) => 100 * a), points: true }], { title: `accuracy under PGD (${norm}, ${r.n} images)`, xLabel: 'epsilon ([0,1] pixels)', yLabel: 'accuracy %', yRange: [0, 100] });
    log(`PGD ${norm}: ${eps.map((e, i) => `ε ${e}: ${(100 * r.accuracy[i]).toFixed(1)}%`).join(', ')} (${formatSeconds((performance.now() - t0) / 1000)}) → ${join(out, 'pgd.png')}\n`);
  }
  writeFileSync(join(out, 'eval.json'), JSON.stringify(report, null, 2) + '\n');
  if (v.json) log(JSON.stringify(report, null, 2) + '\n');
  return 0;
}

/** Max softmax and correctness per test image (inputs noised as the official test transform). */
function predictions(model: ReturnType<typeof wideResNet>, data: ImageDataset, noise: number): { conf: Float64Array; correct: Uint8Array } {
  const conf: number[] = [];
  const correct: number[] = [];
  const was = model.training;
  model.eval();
  noGrad(() => {
    for (const { x, y } of data.batches({ batchSize: 256, shuffle: false, augment: noise ? { noise } : undefined, generator: new Generator(5) })) {
      tidy(() => {
        const p = F.softmax(model.forward(x), 1);
        conf.push(...p.amax(1).toFloat64Array());
        const yy = y.toArray() as BigInt64Array;
        const pred = p.argmax(1).toArray() as BigInt64Array;
        pred.forEach((v, i) => correct.push(v === yy[i] ? 1 : 0));
      });
      x.dispose();
      y.dispose();
    }
  });
  model.train(was);
  return { conf: Float64Array.from(conf), correct: Uint8Array.from(correct) };
}

async function sampleCmd(argv: string[], log: Log): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...common, count: { type: 'string' }, rounds: { type: 'string' }, 'sgld-steps': { type: 'string' }, from: { type: 'string' }, class: { type: 'string' }, out: { type: 'string' }, scale: { type: 'string' }, 'compute-dtype': { type: 'string' } },
  });
  if (v.help) return log(jemUsage + '\n'), 0;
  if (positionals.length !== 1) throw new RangeError('jem sample: give one checkpoint');
  if (!existsSync(positionals[0])) throw new RangeError(`${positionals[0]}: no such file`);
  threads(v.threads);
  const { model, buffer, config } = await loadJem(positionals[0]);
  const count = num(v.count, 'count', { int: true, min: 1 }) ?? 64;
  const rounds = num(v.rounds, 'rounds', { int: true, min: 0 }) ?? 10;
  const k = num(v['sgld-steps'], 'sgld-steps', { int: true, min: 1 }) ?? 20;
  const from = oneOf(v.from, 'from', ['buffer', 'noise'] as const) ?? (buffer ? 'buffer' : 'noise');
  if (from === 'buffer' && !buffer) throw new RangeError(`${positionals[0]} has no replay buffer (use --from noise)`);
  const cls = num(v.class, 'class', { int: true, min: 0 });
  const computeDtype = oneOf(v['compute-dtype'], 'compute-dtype', COMPUTE_DTYPES);
  const g = new Generator(num(v.seed, 'seed', { int: true, min: 0 }) ?? 0);
  const shape = [model.config.inChannels, model.config.resolution, model.config.resolution];
  let x: Tensor;
  if (from === 'buffer') x = buffer!.slice(0, 0, Math.min(count, buffer!.shape[0])).clone();
  else x = tidy(() => rand([count, ...shape], { generator: g }).mul(2).sub(1)); // U[−1, 1], as a fresh buffer
  const y = cls !== undefined ? full([x.shape[0]], cls, { dtype: 'int64' }) : undefined;
  const bar = progressLine('sgld', process.stderr, 5);
  for (let r = 0; r < rounds; r++) {
    const next = sgld(model, x, { steps: k, stepSize: Number(config.sgldStepSize ?? 1), noise: Number(config.sgldNoise ?? 0.01), y, generator: g, computeDtype });
    x.dispose();
    x = next;
    bar.update(r + 1, rounds);
  }
  bar.done();
  const out = v.out ?? 'jem-samples.png';
  await savePngGrid(out, x, { scale: num(v.scale, 'scale', { int: true, min: 1 }) ?? 2 });
  log(`wrote ${out} (${x.shape[0]} samples from ${from}, ${rounds} × ${k} SGLD steps${cls !== undefined ? `, class ${cls}` : ''})\n`);
  return 0;
}

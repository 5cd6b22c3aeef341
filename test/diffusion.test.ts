// DDPM: schedules and tables, the diffusion math against the PyTorch reference on fixed tensors
// (q_sample, L_simple, posterior, ancestral and DDIM steps for each variance/clip/η, VLB terms),
// the native sampling loop against the step-by-step sampler, determinism, the trainer's resume,
// bits/dim bookkeeping, checkpoints and the CLI.
import t from 'tap';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Generator, Tensor, data, diffusion as D, full, io, nn, noGrad, rand, randint, randn, tidy } from '../ts/index.js';
import { PYTHON, maxAbs, maxAbsDiff, referenceUnavailable } from './lib/reference.js';
import { randomize } from './lib/models.js';

const dir = mkdtempSync(join(tmpdir(), 'langevin-ddpm-'));
const tinyConfig: nn.UNetConfig = { inChannels: 1, resolution: 16, channels: 16, channelMult: [1, 2], numResBlocks: 1, attnResolutions: [8], dropout: 0, groups: 4 };

/** A small data set of uint8 images (smooth blobs, so the bound's edge bins are hit). */
function blobs(n: number, seed: number, res = 16): data.ImageDataset {
  const px = new Uint8Array(n * res * res);
  const g = new Generator(seed);
  const r = rand([n, 3], { generator: g }).toFloat32Array();
  for (let i = 0; i < n; i++)
    for (let y = 0; y < res; y++)
      for (let x = 0; x < res; x++) {
        const d = Math.hypot(x - r[3 * i] * res, y - r[3 * i + 1] * res) / (2 + 4 * r[3 * i + 2]);
        px[i * res * res + y * res + x] = Math.max(0, Math.min(255, Math.round(255 * Math.exp(-d * d))));
      }
  return data.ImageDataset.fromBytes(px, [n, 1, res, res], new Uint8Array(n), 'blobs');
}

t.test('schedules: linear and cosine tables, variances, bad options', async (t) => {
  const b = D.betas();
  t.equal(b.length, 1000);
  t.equal(b[0], 1e-4, 'β_1 = 1e-4');
  t.equal(b[999], 0.02, 'β_T = 0.02 exactly (linspace endpoint)');
  t.ok(Math.abs(b[500] - (1e-4 + (500 * (0.02 - 1e-4)) / 999)) < 1e-17, 'linear in between');
  const tb = new D.DiffusionTables(b);
  let prod = 1;
  for (let i = 0; i < 10; i++) prod *= 1 - b[i];
  t.ok(Math.abs(tb.alphasCumprod[9] - prod) < 1e-16, 'ᾱ is the running product');
  t.equal(tb.posteriorVariance[0], 0, 'β̃ at t = 0 is 0');
  t.equal(tb.posteriorLogVarianceClipped[0], Math.log(tb.posteriorVariance[1]), 'clipped log β̃ uses β̃_1 at t = 0');
  t.equal(tb.logVariance('fixedlarge')[0], Math.log(tb.posteriorVariance[1]), 'fixedlarge: t = 0 uses β̃_1 (the original convention)');
  t.equal(tb.logVariance('fixedlarge')[5], Math.log(b[5]), 'fixedlarge: log β elsewhere');
  t.ok(Math.abs(tb.posteriorMeanCoef1[5] - (b[5] * Math.sqrt(tb.alphasCumprod[4])) / (1 - tb.alphasCumprod[5])) < 1e-15, 'coef1 = β√ᾱ_{t−1}/(1−ᾱ_t)');
  const c = D.betas({ schedule: 'cosine' });
  t.ok(c.every((v) => v > 0 && v <= 0.999), 'cosine β in (0, 0.999]');
  t.equal(c[999], 0.999, 'cosine β capped at 0.999 at the end');
  const f = (x: number) => Math.cos(((x / 1000 + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  t.ok(Math.abs(c[10] - (1 - f(11) / f(10))) < 1e-15, 'cosine β_t = 1 − f(t+1)/f(t), s = 0.008');
  t.throws(() => D.betas({ schedule: 'quadratic' as 'linear' }), /unknown schedule 'quadratic'/);
  t.throws(() => D.betas({ timesteps: 0 }), /positive integer/);
  t.throws(() => D.betas({ betaStart: 0.1, betaEnd: 0.01 }), /betaStart ≤ betaEnd/);
  t.throws(() => new D.GaussianDiffusion({ variance: 'learned' as 'fixedlarge' }), /fixedlarge' or 'fixedsmall/);
  const d = new D.GaussianDiffusion({ timesteps: 10 });
  t.throws(() => d.ancestralPlan(10), /integer in \[0, 9\]/);
  t.throws(() => d.ddimPlans(0), /steps must be an integer in \[1, 10\]/);
  t.throws(() => d.ddimPlans(5, -1), /eta must be ≥ 0/);
  const plans = new D.GaussianDiffusion().ddimPlans(50);
  t.same(plans.slice(0, 2).map((p) => p.t), [980, 960], 'DDIM "leading" spacing: 980, 960, …');
  t.equal(plans[49].t, 0);
  t.equal(plans[49].coef1, 1, 'set_alpha_to_one: the last step goes to ᾱ = 1');
  t.throws(() => D.samplerPlans(d, 'ancestral', 5), /runs all 10 steps/);
});

const why = referenceUnavailable();
t.test('diffusion math vs the PyTorch reference (fixed tensors, random full-scale weights)', { skip: !process.env.CI && why ? why : false }, async (t) => {
  if (why) throw new Error(`PyTorch reference unavailable: ${why}`);
  const ts = [0, 20, 500, 980];
  const ddimSteps = 50;
  for (const variance of ['fixedlarge', 'fixedsmall'] as const) {
    t.test(variance, async (t) => {
      const model = nn.unet(tinyConfig);
      randomize(model, 3);
      model.eval();
      const d = new D.GaussianDiffusion({ variance });
      const g = new Generator(11);
      const n = 3;
      // x0 on the 8-bit grid, including exact ±1 (the decoder's edge bins).
      const x0 = randint(0, 256, [n, 1, 16, 16], { generator: g }).float().div(127.5).sub(1);
      const noise = randn(x0.shape, { generator: g });
      const z = randn(x0.shape, { generator: new Generator(77) });
      const tb = randint(0, 1000, [n], { generator: g });
      const src = join(dir, `diff-${variance}.in.safetensors`);
      const dst = join(dir, `diff-${variance}.out.safetensors`);
      const tensors = new Map<string, Tensor>([...model.stateDict()].map(([k, v]) => [`model.${k}`, v]));
      tensors.set('x0', x0).set('noise', noise).set('z', z).set('t', tb);
      await io.writeSafetensors(src, tensors, { config: JSON.stringify({ variance }), model: JSON.stringify(model.config), seed: '5', steps_t: JSON.stringify(ts), ddim_steps: String(ddimSteps) });
      const r = spawnSync(PYTHON, ['bench/ref/diffusion.py', 'parity', src, dst], { encoding: 'utf8' });
      t.equal(r.status, 0, `reference ran ${r.stderr.slice(-800)}`);
      if (r.status !== 0) return;
      const ref = (await io.readSafetensors(dst)).tensors;
      const close = (got: Tensor, key: string, what: string) => {
        const want = ref.get(key)!.toFloat64Array();
        const err = maxAbsDiff(got.toFloat64Array(), want);
        t.ok(err <= 1e-5 * maxAbs(want) + 1e-6, `${what}: max|Δ| ${err.toExponential(2)} (max|ref| ${maxAbs(want).toExponential(2)})`);
      };
      const table = (got: Float64Array, key: string) => {
        const want = ref.get(`table.${key}`)!.toFloat64Array();
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-300));
        t.ok(worst < 1e-12, `table ${key}: worst relative error ${worst.toExponential(2)}`);
      };
      const T = d.tables;
      table(T.betas, 'betas');
      table(T.alphasCumprod, 'ac');
      table(T.posteriorVariance, 'post_var');
      table(T.posteriorLogVarianceClipped, 'post_logvar_clipped');
      table(T.posteriorMeanCoef1, 'coef1');
      table(T.posteriorMeanCoef2, 'coef2');
      table(T.logVariance(variance), 'model_logvar');
      noGrad(() =>
        tidy(() => {
          close(d.qSample(x0, tb, noise), 'q_sample', 'q_sample');
          const { loss, perExample } = d.trainingLoss(model, x0, new Generator(5));
          close(loss.reshape([1]), 'loss', 'L_simple (t and ε drawn from one seed on both sides)');
          close(perExample, 'loss_per', 'L_simple per example');
          for (const step of ts) {
            const tt = full([n], step, { dtype: 'int64' });
            const xt = d.qSample(x0, tt, noise);
            const eps = model.forward(xt, tt);
            close(eps, `eps.${step}`, `model output at t=${step}`);
            close(d.qPosterior(x0, xt, step).mean, `posterior_mean.${step}`, `posterior mean t=${step}`);
            for (const clip of [false, true]) {
              close(d.pMeanVariance(xt, step, eps, clip).x0, `x0hat.${step}.clip${+clip}`, `x̂0 t=${step} clip=${clip}`);
              const anc = d.step(xt, eps, d.ancestralPlan(step), { clip, generator: new Generator(77) });
              close(anc.x, `ancestral.${step}.clip${+clip}`, `ancestral step t=${step} clip=${clip}`);
              for (const eta of [0, 1]) {
                const plan = d.ddimPlans(ddimSteps, eta).find((p) => p.t === step)!;
                const dd = d.step(xt, eps, plan, { ddim: true, clip, generator: new Generator(77) });
                close(dd.x, `ddim.${step}.clip${+clip}.eta${eta}`, `DDIM step t=${step} clip=${clip} η=${eta}`);
              }
            }
            const want = ref.get(`vlb.${step}`)!.toFloat64Array();
            const got = D.vlbTerm(d, x0, xt, step, eps).toFloat64Array();
            let worst = 0;
            for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) - 1e-5 * Math.abs(want[i]) - 1e-6);
            t.ok(worst <= 0, `VLB term t=${step} (${step === 0 ? 'decoder NLL' : 'KL'}): [${Array.from(got, (v) => v.toFixed(5)).join(', ')}] vs reference [${Array.from(want, (v) => v.toFixed(5)).join(', ')}]`);
          }
          const prior = D.priorBpd(d, x0).toFloat64Array();
          const wantPrior = ref.get('prior')!.toFloat64Array();
          t.ok(maxAbsDiff(prior, wantPrior) <= 1e-5 * maxAbs(wantPrior) + 1e-9, `prior term ${prior[0].toExponential(3)} vs ${wantPrior[0].toExponential(3)}`);
        }),
      );
    });
  }
});

t.test('sampling: native loop = step-by-step sampler, seeds, snapshots, progress, abort', async (t) => {
  const model = nn.unet(tinyConfig);
  randomize(model, 4);
  const d = new D.GaussianDiffusion({ timesteps: 20 });
  for (const [sampler, extra] of [['ancestral', {}], ['ddim', { steps: 5, eta: 1 }], ['ddim', { steps: 10, eta: 0 }]] as const) {
    const progress: number[] = [];
    const a = await D.sample(model, d, { count: 3, sampler, ...extra, seed: 9, snapshotEvery: 4, onProgress: (p) => progress.push(p.step), progressEvery: 2 });
    const b = await D.sample(model, d, { count: 3, sampler, ...extra, seed: 9, snapshotEvery: 4, native: false });
    const label = `${sampler} ${JSON.stringify(extra)}`;
    t.equal(maxAbsDiff(a.x.toFloat32Array(), b.x.toFloat32Array()), 0, `${label}: native loop and step-by-step sampler give identical samples`);
    t.same(a.snapshots.map((s) => [s.step, s.t]), b.snapshots.map((s) => [s.step, s.t]), `${label}: same snapshot steps`);
    t.equal(maxAbsDiff(a.snapshots[0].x0.toFloat32Array(), b.snapshots[0].x0.toFloat32Array()), 0, `${label}: same x̂0 snapshots`);
    const nSteps = sampler === 'ancestral' ? 20 : extra.steps!;
    t.equal(a.snapshots.at(-1)!.step, nSteps, `${label}: the last step is always a snapshot`);
    t.equal(progress.at(-1), nSteps, `${label}: progress reaches the end`);
    t.ok(a.snapshots.at(-1)!.x.toFloat32Array().every((v, i) => v === a.x.toFloat32Array()[i]), `${label}: the last snapshot is the result`);
    if (sampler === 'ddim' && extra.eta === 0) {
      t.ok(a.snapshots.every((s) => s.x0.abs().max().item() <= 1), 'x̂0 is clipped to [−1, 1] by default');
    }
  }
  const s1 = await D.sample(model, d, { count: 2, sampler: 'ddim', steps: 4, seed: 1 });
  const s1b = await D.sample(model, d, { count: 2, sampler: 'ddim', steps: 4, seed: 1 });
  const s2 = await D.sample(model, d, { count: 2, sampler: 'ddim', steps: 4, seed: 2 });
  t.equal(maxAbsDiff(s1.x.toFloat32Array(), s1b.x.toFloat32Array()), 0, 'a fixed seed gives identical samples');
  t.ok(maxAbsDiff(s1.x.toFloat32Array(), s2.x.toFloat32Array()) > 0.01, 'another seed gives other samples');
  const u8 = D.toUint8(s1.x);
  t.equal(u8.dtype, 'uint8');
  t.same(u8.shape, [2, 1, 16, 16]);
  const ac = new AbortController();
  const p = D.sample(model, d, { count: 2, sampler: 'ancestral', signal: ac.signal, onProgress: () => ac.abort() });
  await t.rejects(p, { name: 'AbortError' }, 'an AbortSignal stops the native loop');
  t.equal(model.training, true, 'the model is back in training mode afterwards');
  await t.rejects(D.sample(model, d, { count: 0 }), /count must be a positive integer/);
  await t.rejects(D.sample({ forward: (x: Tensor) => x }, d, { count: 1 }), /pass `shape`/);
  // Any EpsModel samples step by step. With ε̂ = 0, η = 0 and no clipping each DDIM step scales x by
  // sqrt(ᾱ'/ᾱ), so 20 steps telescope to x_T / sqrt(ᾱ_19).
  const custom = await D.sample({ forward: (x: Tensor) => x.mul(0) }, d, { count: 1, shape: [1, 4, 4], sampler: 'ddim', steps: 20, clip: false, seed: 5 });
  const xT = randn([1, 1, 4, 4], { generator: new Generator(5) }).div(Math.sqrt(d.tables.alphasCumprod[19]));
  const rel = maxAbsDiff(custom.x.toFloat32Array(), xT.toFloat32Array()) / maxAbs(xT.toFloat32Array());
  t.ok(rel < 1e-5, `a plain EpsModel (ε̂ = 0): x_T/sqrt(ᾱ_19) by hand, relative error ${rel.toExponential(2)}`);
});

t.test('training: loss falls, validation, grids, resume equals an uninterrupted run, checkpoints load', async (t) => {
  const train = blobs(64, 1);
  const valid = blobs(16, 2);
  const d = new D.GaussianDiffusion({ timesteps: 50 });
  const opts = { train, valid, batchSize: 16, lr: 2e-3, warmup: 2, emaDecay: 0.9, evalEvery: 3, checkpointEvery: 3, sampleEvery: 6, sampleCount: 4, sampleSteps: 5, seed: 3 };
  const runA = join(dir, 'runA');
  const recsA: D.DdpmStepRecord[] = [];
  const a = nn.unet({ ...tinyConfig, generator: new Generator(8) });
  for await (const r of D.trainDdpm(a, d, { ...opts, steps: 6, dir: runA })) recsA.push(r);
  t.equal(recsA.length, 6);
  t.ok(recsA[2].eval && Number.isFinite(recsA[2].eval.loss) && Number.isFinite(recsA[2].eval.emaLoss), 'validation loss (raw and EMA) on eval steps');
  t.ok(recsA[5].samples && existsSync(recsA[5].samples), 'a DDIM sample grid is written');
  const png = data.decodePng(readFileSync(recsA[5].samples!));
  t.same([png.width, png.height], [2 * 32 + 3 * 2, 2 * 32 + 3 * 2], '2×2 grid of 16-px images shown at 2× with 2-px padding');
  // Interrupted: 3 steps, then resume to 6 with a fresh model.
  const runB = join(dir, 'runB');
  const b1 = nn.unet({ ...tinyConfig, generator: new Generator(8) });
  for await (const r of D.trainDdpm(b1, d, { ...opts, steps: 3, dir: runB })) void r;
  const b2 = nn.unet({ ...tinyConfig, generator: new Generator(99) });
  const recsB: D.DdpmStepRecord[] = [];
  for await (const r of D.trainDdpm(b2, d, { ...opts, steps: 6, dir: runB, resume: true })) recsB.push(r);
  t.same(recsB.map((r) => r.step), [4, 5, 6], 'resumes at step 4');
  t.same(recsB.map((r) => r.loss), recsA.slice(3).map((r) => r.loss), 'resumed losses equal the uninterrupted run bit for bit');
  t.equal(maxAbsDiff(b2.conv_out.weight.toFloat32Array(), a.conv_out.weight.toFloat32Array()), 0, 'and so do the weights');
  const ema = await D.loadDdpm(join(runA, 'latest.safetensors'), { weights: 'ema' });
  const raw = await D.loadDdpm(join(runA, 'latest.safetensors'), { weights: 'raw' });
  t.equal(ema.step, 6);
  t.equal(ema.diffusion.T, 50, 'the diffusion settings come from the checkpoint');
  t.equal(maxAbsDiff(raw.model.conv_out.weight.toFloat32Array(), a.conv_out.weight.toFloat32Array()), 0, "'raw' loads the trained weights");
  t.ok(maxAbsDiff(ema.model.conv_out.weight.toFloat32Array(), a.conv_out.weight.toFloat32Array()) > 0, "'ema' loads the averaged ones");
  await t.rejects(D.loadDdpm(join(runA, 'latest.safetensors'), {} as { weights: 'ema' }), /weights must be 'ema' or 'raw'/);
  const lossModel = nn.unet({ ...tinyConfig, generator: new Generator(8) });
  const first = D.validationLoss(lossModel, d, valid, 1);
  t.equal(D.validationLoss(lossModel, d, valid, 1), first, 'validation loss is deterministic for a seed');
  // The loss falls on a learnable task (20 steps at a high lr on 64 blobs).
  const c = nn.unet({ ...tinyConfig, generator: new Generator(8) });
  const losses: number[] = [];
  for await (const r of D.trainDdpm(c, d, { ...opts, lr: 3e-3, steps: 30, evalEvery: 0, sampleEvery: 0 })) losses.push(r.loss);
  const mean = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / xs.length;
  t.ok(mean(losses.slice(-10)) < 0.8 * mean(losses.slice(0, 5)), `loss falls: first 5 ${mean(losses.slice(0, 5)).toFixed(3)} → last 10 ${mean(losses.slice(-10)).toFixed(3)}`);
  await t.rejects(async () => {
    for await (const r of D.trainDdpm(c, d, { train, steps: 0 })) void r;
  }, /steps must be a positive integer/);
  t.same(D.ddpmRecipe('ddpmCifar10'), { batchSize: 128, lr: 2e-4, warmup: 5000, clipNorm: 1, emaDecay: 0.9999, emaWarmup: false, flip: true }, "the paper's CIFAR-10 recipe");
  t.equal(D.ddpmRecipe('ddpm256').lr, 2e-5, '256² uses lr 2e-5');
});

t.test('mixed-precision training (bf16 compute, float32 master weights): tracks float32; where it applies', async (t) => {
  const train = blobs(64, 1);
  const d = new D.GaussianDiffusion({ timesteps: 50 });
  const opts = { train, batchSize: 16, lr: 3e-3, warmup: 2, emaDecay: 0.9, steps: 30, evalEvery: 0, sampleEvery: 0, seed: 3 };
  const run = async (computeDtype: 'float32' | 'bfloat16', dir?: string) => {
    const m = nn.unet({ ...tinyConfig, generator: new Generator(8) });
    const losses: number[] = [];
    for await (const r of D.trainDdpm(m, d, { ...opts, computeDtype, dir })) losses.push(r.loss);
    return { m, losses };
  };
  const f32 = await run('float32');
  const runDir = join(dir, 'bf16-run');
  const b16 = await run('bfloat16', runDir);
  // Step 1's loss is the same in both (the output conv starts at zero); steps 2–5 see the updates.
  const rel = Math.max(...[1, 2, 3, 4].map((i) => Math.abs(b16.losses[i] - f32.losses[i]) / f32.losses[i]));
  t.ok(rel > 0 && rel < 0.05, `steps 2–5 (same init, same draws): losses within rel ${rel.toExponential(2)} of float32's (bf16 ran, and is close)`);
  const mean = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / xs.length;
  const [l32, l16] = [mean(f32.losses.slice(-10)), mean(b16.losses.slice(-10))];
  t.ok(l16 < 0.8 * mean(b16.losses.slice(0, 5)), `bf16 loss falls: first 5 ${mean(b16.losses.slice(0, 5)).toFixed(3)} → last 10 ${l16.toFixed(3)}`);
  t.ok(Math.abs(l16 - l32) < 0.15 * l32, `last-10 mean loss ${l16.toFixed(3)} vs ${l32.toFixed(3)} in float32`);
  t.ok(b16.m.parameters().every((p) => p.dtype === 'float32'), 'the master weights stay float32');
  t.equal(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).computeDtype, 'bfloat16', 'config.json records the compute dtype');
  // A user model's forward would ignore the option: bf16 is refused, 'auto' falls back.
  const custom = { forward: (x: Tensor) => x.mul(0.5) };
  const x0 = randn([2, 1, 16, 16], { generator: new Generator(1) });
  t.throws(() => d.trainingLoss(custom, x0, new Generator(2), { computeDtype: 'bfloat16' }), /needs a U-Net/);
  t.equal(D.trainingComputeDtype(custom, 'auto', 'cpu', 'x'), 'float32', "'auto' trains a custom model in float32");
  t.equal(D.trainingComputeDtype(f32.m, 'bfloat16', 'cpu', 'x'), 'bfloat16');
  t.throws(() => d.trainingLoss(f32.m, x0, new Generator(2), { computeDtype: 'float16' as never }), /computeDtype must be/);
  for (const v of [f32.m, b16.m, x0]) v.dispose();
});

t.test('bits/dim: total = prior + Σ terms, per-image standard error, reproducible', async (t) => {
  const model = nn.unet(tinyConfig);
  randomize(model, 6);
  const d = new D.GaussianDiffusion({ timesteps: 8 });
  const ds = blobs(5, 3);
  const progress: number[] = [];
  const r = await D.bitsPerDim(model, d, ds, { batchSize: 2, seed: 4, onProgress: (p) => progress.push(p.step) });
  t.equal(r.n, 5);
  t.equal(r.perT.length, 8);
  t.ok(Math.abs(r.total - (r.prior + r.perT.reduce((a, b) => a + b, 0))) < 1e-9, `total ${r.total.toFixed(4)} = prior + Σ_t terms`);
  t.equal(r.decoder, r.perT[0], 'the decoder is the t = 0 term');
  t.ok(r.totalStderr > 0 && Number.isFinite(r.totalStderr), `standard error ${r.totalStderr.toExponential(2)}`);
  t.equal(progress.at(-1), 3 * 8, 'progress counts batches × T');
  const again = await D.bitsPerDim(model, d, ds, { batchSize: 2, seed: 4 });
  t.equal(again.total, r.total, 'same seed, same bound');
  // By hand for one image: the same draws through vlbTerm/priorBpd.
  const one = ds.take(1);
  const r1 = await D.bitsPerDim(model, d, one, { seed: 4 });
  const g = new Generator(4);
  const x0 = [...one.batches({ batchSize: 1, shuffle: false })][0].x;
  let sum = D.priorBpd(d, x0).item();
  noGrad(() => {
    for (let s = 7; s >= 0; s--) {
      const noise = randn(x0.shape, { generator: g });
      const tt = full([1], s, { dtype: 'int64' });
      const xt = d.qSample(x0, tt, noise);
      sum += D.vlbTerm(d, x0, xt, s, model.forward(xt, tt)).item();
    }
  });
  t.ok(Math.abs(sum - r1.total) < 1e-9, `one image by hand ${sum.toFixed(6)} = ${r1.total.toFixed(6)}`);
});

t.test('sampling in bfloat16 compute: equivalent to float32 on the shipped model; where it applies', async (t) => {
  const { DEMO_WEIGHTS } = await import('../ts/cli/demo.js');
  const { model, diffusion } = await D.loadDdpm(DEMO_WEIGHTS, { weights: 'ema' });
  const opts = { count: 8, sampler: 'ddim' as const, steps: 10, seed: 3 };
  const a = await D.sample(model, diffusion, { ...opts, computeDtype: 'float32' });
  const b = await D.sample(model, diffusion, { ...opts, computeDtype: 'bfloat16' });
  t.equal(b.computeDtype, 'bfloat16', 'the result says which dtype ran');
  t.equal(b.x.dtype, 'float32', 'samples come back as float32');
  const d = D.toUint8(a.x).to('float32').sub(D.toUint8(b.x).to('float32')).abs();
  const mean = d.mean().item();
  const over8 = d.gt(8).to('float32').mean().item();
  // Measured here: mean 0.66 grey levels, 0.012% of pixels off by more than 8 (DDIM-10, 8 images).
  t.ok(mean > 0 && mean < 1.5, `same seed, DDIM-10: mean |Δ| = ${mean.toFixed(3)} grey levels (bf16 ran, and stays close)`);
  t.ok(over8 < 0.01, `${(100 * over8).toFixed(3)}% of pixels differ by more than 8 levels`);
  // The same in channels-last (NHWC weights and activations through the native loop).
  model.to({ memoryFormat: 'channelsLast' });
  t.ok(model.conv_in.weight.isContiguousAs('channelsLast') && !model.down.items[0].block.items[0].conv1.weight.isContiguous, 'the weights are NHWC');
  const c = await D.sample(model, diffusion, { ...opts, computeDtype: 'bfloat16' });
  const dc = D.toUint8(a.x).to('float32').sub(D.toUint8(c.x).to('float32')).abs().mean().item();
  t.ok(dc > 0 && dc < 1.5, `channels-last bf16 vs float32: mean |Δ| = ${dc.toFixed(3)} grey levels`);
  c.x.dispose();
  model.to({ memoryFormat: 'contiguous' });
  await t.rejects(D.sample(model, diffusion, { ...opts, native: false, computeDtype: 'bfloat16' }), /needs the native loop/, 'bf16 asked of the step-by-step path is an error');
  const auto = await D.sample(model, diffusion, { ...opts, count: 1, steps: 2, native: false, computeDtype: 'auto' });
  t.equal(auto.computeDtype, 'float32', "'auto' falls back to float32 there");
  await t.rejects(D.sample(model, diffusion, { ...opts, computeDtype: 'half' as never }), /computeDtype must be/);
  for (const r of [a, b, auto]) r.x.dispose();
  d.dispose();
  model.dispose();
});

t.test('CLI: ddpm train → sample → bpd, help, one-line errors', async (t) => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/cli/main.js', ...args], { encoding: 'utf8' }) // built by npm test / prepare;
  const help = cli('ddpm', '--help');
  t.equal(help.status, 0);
  for (const opt of ['--steps', '--resume', '--data', '--weights', '--sampler', '--eta', '--snapshot-every', '--count', '--device', '--threads', '--compute-dtype', '--channels-last']) t.match(help.stdout, opt, `help lists ${opt}`);
  const bad = cli('ddpm', 'sample', 'x.safetensors', '--sampler', 'euler');
  t.equal(bad.status, 1);
  t.equal(bad.stderr.trim().split('\n').length, 1, 'a bad option is one line');
  t.match(bad.stderr, /--sampler must be one of ancestral, ddim, got 'euler'/);
  t.match(cli('ddpm', 'train', '--out', join(dir, 'x')).stderr, /--steps N is required/);
  t.match(cli('ddpm', 'train', '--steps', '1', '--out', join(dir, 'x'), '--preset', 'wrn10-2').stderr, /must be a U-Net preset/);
  t.match(cli('ddpm', 'train', '--steps', '1', '--out', join(dir, 'x'), '--data', 'cifar10').stderr, /give a folder/);
  const run = join(dir, 'cli-run');
  const tr = cli('ddpm', 'train', '--steps', '2', '--batch', '4', '--timesteps', '10', '--out', run, '--eval-every', '0', '--sample-every', '0', '--threads', '1', '--compute-dtype', 'bfloat16');
  t.equal(tr.status, 0, `train ran ${tr.stderr.slice(-400)}`);
  t.equal(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')).computeDtype, 'bfloat16', '--compute-dtype trains in mixed precision');
  t.ok(existsSync(join(run, 'latest.safetensors')) && existsSync(join(run, 'log.jsonl')), 'checkpoint and log');
  const png = join(dir, 'cli.png');
  const sm = cli('ddpm', 'sample', join(run, 'latest.safetensors'), '--count', '4', '--sampler', 'ancestral', '--snapshot-every', '5', '--out', png, '--scale', '2');
  t.equal(sm.status, 0, `sample ran ${sm.stderr.slice(-400)}`);
  const bf = cli('ddpm', 'sample', join(run, 'latest.safetensors'), '--count', '2', '--steps', '2', '--compute-dtype', 'bfloat16', '--channels-last', '--out', join(dir, 'bf.safetensors'));
  t.equal(bf.status, 0, `--compute-dtype bfloat16 ran ${bf.stderr.slice(-400)}`);
  t.match(bf.stdout, /bfloat16/, 'and says so');
  t.match((await io.readSafetensors(join(dir, 'bf.safetensors'))).metadata, { computeDtype: 'bfloat16', memoryFormat: 'channelsLast' }, 'the sample file records the compute dtype and layout');
  t.match(cli('ddpm', 'sample', 'x.safetensors', '--compute-dtype', 'fp8').stderr, /--compute-dtype must be one of float32, bfloat16, auto/);
  t.match(sm.stdout, /ema weights \(step 2\)/, 'says which weights');
  const img = data.decodePng(readFileSync(png));
  t.same([img.width, img.height], [2 * 64 + 3 * 2, 2 * 64 + 3 * 2], '2×2 grid of 32-px images at --scale 2');
  const xt = data.decodePng(readFileSync(join(dir, 'cli-xt.png')));
  t.same([xt.width, xt.height], [4 * 64 + 5 * 2, 2 * 64 + 3 * 2], 'trajectory: a row per snapshot (steps 5, 10), a column per image');
  t.ok(existsSync(join(dir, 'cli-x0.png')) && existsSync(join(dir, 'cli-xt.png')), 'trajectory grids');
  const bpd = cli('ddpm', 'bpd', join(run, 'latest.safetensors'), '--count', '2', '--json');
  t.equal(bpd.status, 0, `bpd ran ${bpd.stderr.slice(-400)}`);
  const j = JSON.parse(bpd.stdout); // --json prints nothing else
  t.equal(j.n, 2);
  t.ok(j.total > 0 && j.perTerm.length === 10, `bits/dim ${j.total.toFixed(3)} with 10 terms`);
});

t.test('export and the demo (small settings)', async (t) => {
  const run = join(dir, 'runA', 'latest.safetensors');
  const out = join(dir, 'exported.safetensors');
  await D.exportDdpm(run, out, { weights: 'ema' });
  const a = await D.loadDdpm(run, { weights: 'ema' });
  const b = await D.loadDdpm(out, { weights: 'ema' });
  t.equal(b.step, 6, 'the exported file keeps the step');
  t.equal(b.diffusion.T, 50, 'and the diffusion settings');
  t.equal(maxAbsDiff(a.model.conv_out.weight.toFloat32Array(), b.model.conv_out.weight.toFloat32Array()), 0, 'and the EMA weights');
  await t.rejects(D.loadDdpm(out, { weights: 'raw' }), /holds only the ema weights/);
  const { runDemo, DEMO_WEIGHTS } = await import('../ts/cli/demo.js');
  t.ok(existsSync(DEMO_WEIGHTS), 'the pretrained demo weights ship in the repository');
  const lines: string[] = [];
  const code = await runDemo({ out: join(dir, 'demo'), count: 4, steps: 5, trainSteps: 2, threads: 1, log: (s) => lines.push(s) });
  t.equal(code, 0);
  const png = data.decodePng(readFileSync(join(dir, 'demo', 'samples.png')));
  t.same([png.width, png.height], [2 * 64 + 3 * 2, 2 * 64 + 3 * 2], 'a 2×2 grid of 32-px samples shown at 2×');
  t.match(lines.join(''), /Open .*samples\.png/, 'says where the PNG is');
});

// Benchmark rows on the langevin side. Each has a twin of the same name in bench/ref/worker.py.
import { Generator, randn, ones, tidy, dispose, nn, cat } from '../dist/index.js';

const F = nn.F;
const g = new Generator(0);

/** A row from an op: `inputs` → tensors; `fn` → output. Forward rows run without grad. */
function opRow(group, makeInputs, fn, backward) {
  return {
    group,
    setup() {
      const inputs = makeInputs();
      if (backward) for (const t of inputs) t.requiresGrad_();
      return inputs;
    },
    step(inputs) {
      tidy(() => {
        const y = fn(inputs);
        if (backward) {
          y.sum().backward();
          for (const t of inputs) t.zeroGrad();
        } else {
          y.numel; // results are computed synchronously; reading metadata keeps y live until here
        }
      });
    },
    teardown(inputs) {
      dispose(inputs);
    },
  };
}

const conv = (c, s) => () => [randn([8, c, s, s], { generator: g }), randn([c, c, 3, 3], { generator: g }).mul(0.03), randn([c], { generator: g })];
const gn = (c, s) => () => [randn([8, c, s, s], { generator: g }), ones([c]), randn([c], { generator: g })];
const attn = () => () => [randn([8, 256, 256], { generator: g }), randn([8, 256, 256], { generator: g }), randn([8, 256, 256], { generator: g })];
const convFn = ([x, w, b]) => F.conv2d(x, w, b, { padding: 1 });
const gnFn = ([x, w, b]) => F.groupNorm(x, 32, w, b, 1e-6);
const attnFn = ([q, k, v]) => F.scaledDotProductAttention(q, k, v);

export const rows = {};
for (const [bwd, suffix] of [[false, 'fwd'], [true, 'fwd+bwd']]) {
  rows[`conv3x3 128ch@32² b8 ${suffix}`] = opRow('ops', conv(128, 32), convFn, bwd);
  rows[`conv3x3 256ch@16² b8 ${suffix}`] = opRow('ops', conv(256, 16), convFn, bwd);
  rows[`groupnorm 128ch@32² b8 ${suffix}`] = opRow('ops', gn(128, 32), gnFn, bwd);
  rows[`groupnorm 256ch@16² b8 ${suffix}`] = opRow('ops', gn(256, 16), gnFn, bwd);
  rows[`attention 256ch 256tok b8 ${suffix}`] = opRow('ops', attn(), attnFn, bwd);
}

// ---- whole models (issue: models) -----------------------------------------------------------
import { noGrad, randint, grad } from '../dist/index.js';
import { randomize } from './randomize.mjs';

function modelRow({ preset, batch, mode, training = false }) {
  return {
    group: 'models',
    setup() {
      const model = randomize(nn.modelFromPreset(preset), 1);
      model.train(training);
      const { inChannels: c, resolution: r } = model.config;
      const x = randn([batch, c, r, r], { generator: g });
      const t = randint(0, 1000, [batch], { generator: g });
      return { model, x, t, isUnet: model instanceof nn.UNet };
    },
    step({ model, x, t, isUnet }) {
      tidy(() => {
        if (mode === 'fwd') {
          noGrad(() => (isUnet ? model.forward(x, t) : model.forward(x)));
        } else if (mode === 'fwd+bwd') {
          const y = isUnet ? model.forward(x, t) : model.forward(x);
          y.square().mean().backward();
          for (const p of model.parameters()) p.zeroGrad();
        } else {
          // forward + input gradient of the JEM energy (parameters keep requiresGrad, as in SGLD)
          const xi = x.detach().requiresGrad_();
          const e = model.forward(xi).logsumexp(1).sum();
          grad(e, xi);
        }
      });
    },
    teardown({ model, x, t }) {
      model.dispose();
      dispose([x, t]);
    },
  };
}

rows['ddpmCifar10 b8 fwd'] = modelRow({ preset: 'ddpmCifar10', batch: 8, mode: 'fwd' });
rows['ddpmCifar10 b8 fwd+bwd'] = modelRow({ preset: 'ddpmCifar10', batch: 8, mode: 'fwd+bwd' });
rows['ddpmCifar10 b8 fwd+bwd train (dropout)'] = modelRow({ preset: 'ddpmCifar10', batch: 8, mode: 'fwd+bwd', training: true });
rows['wrn28-10 b8 fwd+input-grad'] = modelRow({ preset: 'wrn28-10', batch: 8, mode: 'input-grad' });
rows['ddpmSmall b64 fwd'] = modelRow({ preset: 'ddpmSmall', batch: 64, mode: 'fwd' });
rows['ddpmSmall b64 fwd+bwd'] = modelRow({ preset: 'ddpmSmall', batch: 64, mode: 'fwd+bwd' });
rows['ddpm256 b1 fwd'] = { ...modelRow({ preset: 'ddpm256', batch: 1, mode: 'fwd' }), group: 'big' };

// ---- DDPM (issue: DDPM) ----------------------------------------------------------------------
// A training step is the whole of it: L_simple (t, ε draws, q_sample, training-mode forward with
// the preset's dropout), backward, clipping, Adam and the EMA update. A sampling step is one eval
// forward plus the ancestral update. Twins: bench/ref/worker.py with bench/ref/diffusion.py.
import { diffusion as D, train as T } from '../dist/index.js';

function ddpmTrainRow(preset, batch, device = 'cpu', computeDtype = 'float32', ref = undefined, memoryFormat = 'contiguous') {
  return {
    group: 'ddpm',
    ref,
    setup() {
      const model = randomize(nn.modelFromPreset(preset), 1).to({ device, memoryFormat });
      model.train();
      const { inChannels: c, resolution: r } = model.config;
      const x0 = randn([batch, c, r, r], { generator: g }).clamp(-1, 1).to(device);
      const opt = new T.Adam(model.parameters(), { lr: 2e-4 });
      const ema = new T.EMA(model, { decay: 0.9999 });
      return { model, x0, opt, ema, d: new D.GaussianDiffusion(), gen: new Generator(3) };
    },
    step({ model, x0, opt, ema, d, gen }) {
      tidy(() => {
        const { loss } = d.trainingLoss(model, x0, gen, { computeDtype });
        opt.zeroGrad();
        loss.backward();
        T.clipGradNorm(opt.params, 1);
        opt.step();
        ema.update();
        loss.item();
      });
    },
    teardown({ model, x0, opt, ema }) {
      opt.dispose();
      ema.dispose();
      model.dispose();
      x0.dispose();
    },
  };
}

function ddpmSampleStepRow(preset, batch) {
  return {
    group: 'ddpm',
    setup() {
      const model = randomize(nn.modelFromPreset(preset), 1);
      model.eval();
      const { inChannels: c, resolution: r } = model.config;
      const x = randn([batch, c, r, r], { generator: g });
      const d = new D.GaussianDiffusion();
      return { model, x, d, t: randint(500, 501, [batch]), plan: d.ancestralPlan(500), gen: new Generator(4) };
    },
    step({ model, x, d, t, plan, gen }) {
      tidy(() => noGrad(() => d.step(x, model.forward(x, t), plan, { generator: gen })));
    },
    teardown({ model, x, t }) {
      model.dispose();
      dispose([x, t]);
    },
  };
}

// A bf16 langevin row twice: timed against PyTorch eager float32 (`fp32Ref`) and against PyTorch's
// bf16 autocast (`${name} bf16-autocast`). `makeRow(ref)` builds the row; `wrap` adapts it.
function bf16Rows(name, makeRow, group, { fp32Ref = name, wrap = (row) => row } = {}) {
  rows[`${name} bf16 vs PyTorch fp32`] = { ...wrap(makeRow(fp32Ref)), group };
  rows[`${name} bf16 vs PyTorch bf16-autocast`] = { ...wrap(makeRow(`${name} bf16-autocast`)), group };
}

rows['ddpm train step ddpmCifar10 b8'] = { ...ddpmTrainRow('ddpmCifar10', 8), group: 'ddpm speed' };
// Mixed-precision training (bf16 forward/backward, float32 master weights, Adam and EMA).
bf16Rows('ddpm train step ddpmCifar10 b8', (ref) => ddpmTrainRow('ddpmCifar10', 8, 'cpu', 'bfloat16', ref), 'speed');
// Both sides channels-last.
rows['ddpm train step ddpmCifar10 b8 channels-last'] = { ...ddpmTrainRow('ddpmCifar10', 8, 'cpu', 'float32', undefined, 'channelsLast'), group: 'speed' };
rows['ddpm train step ddpmCifar10 b8 bf16 channels-last vs PyTorch bf16-autocast channels-last'] = {
  ...ddpmTrainRow('ddpmCifar10', 8, 'cpu', 'bfloat16', 'ddpm train step ddpmCifar10 b8 bf16-autocast channels-last', 'channelsLast'),
  group: 'speed',
};
rows['ddpm train step ddpmTiny b64'] = ddpmTrainRow('ddpmTiny', 64);
rows['ddpm sample step ddpmCifar10 b8'] = ddpmSampleStepRow('ddpmCifar10', 8);
// The full reverse process (1000 steps, the native loop on a worker thread) against a Python loop.
rows['ddpm ancestral 1000 steps ddpmTiny b8'] = {
  group: 'ddpm-loop',
  setup() {
    const model = randomize(nn.modelFromPreset('ddpmTiny'), 1);
    return { model, d: new D.GaussianDiffusion() };
  },
  async step({ model, d }) {
    const { x, snapshots } = await D.sample(model, d, { count: 8, sampler: 'ancestral', seed: 5 });
    x.dispose();
    void snapshots;
  },
  teardown({ model }) {
    model.dispose();
  },
};

// ---- JEM (issue: JEM) ------------------------------------------------------------------------
// One SGLD step = energy, ∂E/∂x, update and noise (one fused native call). A JEM training step on
// the small WRN = buffer draw, 20 SGLD steps, the loss over the data/sample/labelled batches,
// backward and Adam. Twins: bench/ref/worker.py with bench/ref/jem.py.
import { jem as J } from '../dist/index.js';

function sgldRow(preset, batch, computeDtype = 'float32', ref = undefined) {
  return {
    group: 'jem',
    ref,
    setup() {
      const model = randomize(nn.modelFromPreset(preset), 1);
      model.eval();
      const { inChannels: c, resolution: r } = model.config;
      return { model, x: randn([batch, c, r, r], { generator: g }).clamp(-1, 1), gen: new Generator(6) };
    },
    step({ model, x, gen }) {
      const r = J.sgldStep(model, x, { generator: gen, computeDtype });
      r.x.dispose();
      r.energy.dispose();
    },
    teardown({ model, x }) {
      model.dispose();
      x.dispose();
    },
  };
}

rows['jem sgld step wrn28-10 b8'] = sgldRow('wrn28-10', 8);
rows['jem sgld step wrn10-2 b64'] = sgldRow('wrn10-2', 64);
function jemTrainRow(preset, batch, device = 'cpu', computeDtype = 'float32', ref = undefined) {
  return {
    group: 'jem',
    ref,
    setup() {
      const model = randomize(nn.modelFromPreset(preset), 1).to(device);
      model.train();
      const { inChannels: c, resolution: r } = model.config;
      const mk = () => randn([batch, c, r, r], { generator: g }).clamp(-1, 1).to(device);
      const buffer = new J.ReplayBuffer({ size: 2000, shape: [c, r, r], generator: new Generator(7) });
      return { model, xd: mk(), xl: mk(), yl: randint(0, 10, [batch], { generator: g }).to(device), buffer, opt: new T.Adam(model.parameters(), { lr: 1e-4 }), gen: new Generator(8) };
    },
    step({ model, xd, xl, yl, buffer, opt, gen }) {
      const s = buffer.sample(batch, { generator: gen });
      const x0 = s.x.to(device);
      const xq = J.sgld(model, x0, { steps: 20, generator: gen, computeDtype });
      buffer.update(s.indices, xq);
      if (x0 !== s.x) x0.dispose();
      tidy(() => {
        const e = J.energyFromLogits(model.forward(cat([xd, xq]), { computeDtype }));
        const loss = nn.F.crossEntropy(model.forward(xl, { computeDtype }), yl).add(e.slice(0, 0, batch).mean().sub(e.slice(0, batch).mean()));
        opt.zeroGrad();
        loss.backward();
        opt.step();
        loss.item();
      });
      dispose([s.x, s.indices, xq]);
    },
    teardown({ model, xd, xl, yl, buffer, opt }) {
      opt.dispose();
      buffer.dispose();
      model.dispose();
      dispose([xd, xl, yl]);
    },
  };
}

rows['jem train step wrn10-2 b64'] = jemTrainRow('wrn10-2', 64);
rows['jem train step wrn28-10 b8'] = { ...jemTrainRow('wrn28-10', 8), group: 'jem speed' };
// bf16 compute (the SGLD chains; in the training step also the loss's forward and backward, with
// float32 weights, Adam and loss), against PyTorch float32 and against PyTorch's bf16 autocast.
bf16Rows('jem sgld step wrn28-10 b8', (ref) => sgldRow('wrn28-10', 8, 'bfloat16', ref), 'jem speed');
bf16Rows('jem train step wrn28-10 b8', (ref) => jemTrainRow('wrn28-10', 8, 'cpu', 'bfloat16', ref), 'jem speed');

// ---- Metrics: FID Inception-v3 feature extraction (uint8 28×28 grey → 299 RGB → pool3 + logits) ----
rows['fid inception b8 features'] = {
  group: 'metrics',
  setup() {
    const net = randomize(new nn.FidInceptionV3(), 1);
    const x = randint(0, 256, [8, 1, 28, 28], { generator: g }).to('uint8');
    return { net, x };
  },
  step({ net, x }) {
    tidy(() => noGrad(() => net.outputs(x)));
  },
  teardown({ net, x }) {
    net.dispose();
    x.dispose();
  },
};

// ---- Speed (issue: speed): the speed table's rows ----------------------------------------------
// Sampling: ancestral steps of ddpmCifar10 through the native loop, on a short schedule (T = 10 on
// CPU, 100 on CUDA) whose every step is a T = 1000 step's work (one eval forward, the update, the
// noise draw); images/s over 1000 steps = batch × T / (1000 × time). In float32 and in bfloat16
// compute. `ref` names the PyTorch row a langevin row is timed against when it is not its namesake:
// the bf16 rows are compared with PyTorch eager float32 and with PyTorch's own bf16 autocast
// (bench/ref/worker.py says how that is set up on 1.13). The 'speed-cuda' rows are the GPU sizes
// (batch 256 sampling, 128 DDPM training, 64 JEM WRN-28-10); run them with --device cuda.
import { synchronize } from '../dist/index.js';

const DEVICE = process.env.LANGEVIN_BENCH_DEVICE ?? 'cpu';

function sampleRow(preset, batch, T, computeDtype, ref, memoryFormat = 'contiguous') {
  return {
    ref,
    setup() {
      return { model: randomize(nn.modelFromPreset(preset), 1).to({ device: DEVICE, memoryFormat }), d: new D.GaussianDiffusion({ timesteps: T }) };
    },
    async step({ model, d }) {
      const r = await D.sample(model, d, { count: batch, sampler: 'ancestral', seed: 5, computeDtype, device: DEVICE });
      synchronize();
      r.x.dispose();
    },
    teardown({ model }) {
      model.dispose();
    },
  };
}

function speedRows(group, batch, T) {
  const name = `sample ${T} ancestral steps ddpmCifar10 b${batch}`;
  rows[`${name} fp32`] = { ...sampleRow('ddpmCifar10', batch, T, 'float32'), group };
  bf16Rows(name, (ref) => sampleRow('ddpmCifar10', batch, T, 'bfloat16', ref), group, { fp32Ref: `${name} fp32` });
  // Both sides channels-last (model.to(memory_format=torch.channels_last) and NHWC inputs). The GPU
  // group keeps only the autocast comparison: its check has minutes, not hours.
  const cpuOnly = group === 'speed' ? group : 'speed-cpu';
  rows[`${name} fp32 channels-last`] = { ...sampleRow('ddpmCifar10', batch, T, 'float32', undefined, 'channelsLast'), group: cpuOnly };
  rows[`${name} bf16 channels-last vs PyTorch fp32 channels-last`] = { ...sampleRow('ddpmCifar10', batch, T, 'bfloat16', `${name} fp32 channels-last`, 'channelsLast'), group: cpuOnly };
  rows[`${name} bf16 channels-last vs PyTorch bf16-autocast channels-last`] = { ...sampleRow('ddpmCifar10', batch, T, 'bfloat16', `${name} bf16-autocast channels-last`, 'channelsLast'), group };
}
speedRows('speed', 8, 10);
speedRows('speed-cuda', 256, 100);
const synced = (row) => ({ ...row, step: (st) => (row.step(st), synchronize()) });
rows['ddpm train step ddpmCifar10 b128'] = { ...synced(ddpmTrainRow('ddpmCifar10', 128, DEVICE)), group: 'speed-cuda' };
rows['jem train step wrn28-10 b64'] = { ...synced(jemTrainRow('wrn28-10', 64, DEVICE)), group: 'speed-cuda' };
bf16Rows('ddpm train step ddpmCifar10 b128', (ref) => ddpmTrainRow('ddpmCifar10', 128, DEVICE, 'bfloat16', ref), 'speed-cuda', { wrap: synced });
bf16Rows('jem train step wrn28-10 b64', (ref) => jemTrainRow('wrn28-10', 64, DEVICE, 'bfloat16', ref), 'speed-cuda', { wrap: synced });

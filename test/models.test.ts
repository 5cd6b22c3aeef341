// Models: parameter counts and MACs, parity with the PyTorch reference (forward and gradients,
// full-scale random weights), native program vs TypeScript forward, weights I/O (safetensors,
// diffusers layout), config validation, and a malformed-safetensors suite.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Generator, Tensor, buildInfo, gaussianLangevin, grad, io, nn, noGrad, randint, randn, resolveComputeDtype, tidy, ones } from '../ts/index.js';
import { PYTHON, maxAbs, maxAbsDiff, referenceUnavailable } from './lib/reference.js';
import { randomize } from './lib/models.js';

const dir = mkdtempSync(join(tmpdir(), 'langevin-models-'));
type Model = nn.UNet | nn.WideResNet;

function run(m: Model, x: Tensor, time: Tensor | undefined, eager = false, opts: nn.ForwardOptions = {}): Tensor {
  if (m instanceof nn.UNet) return eager ? m.forwardEager(x, time!) : m.forward(x, time!, opts);
  return eager ? m.forwardEager(x) : m.forward(x, opts);
}

t.test('parameter counts and MACs (paper-exact presets)', async (t) => {
  const want: [nn.PresetName, number, number][] = [
    ['ddpmCifar10', 35_746_307, 6.222e9],
    ['ddpm256', 113_673_219, 248.5e9],
    ['wrn28-10', 36_471_338, 0],
    ['wrn10-2', 303_178, 0],
  ];
  for (const [name, params, macs] of want) {
    const m = nn.modelFromPreset(name);
    t.equal(m.parameterCount(), params, `${name}: ${params} parameters`);
    if (macs) t.ok(Math.abs(nn.macsPerSample(m) / macs - 1) < 5e-4, `${name}: ${(nn.macsPerSample(m) / 1e9).toFixed(3)} GMAC ≈ ${macs / 1e9}`);
    m.dispose();
  }
  const official = nn.wideResNet('wrn28-10', { officialHeads: true });
  t.equal(official.parameterCount(), 36_478_389, 'with the official checkpoint\'s two unused heads');
  const names = [...official.stateDict().keys()];
  for (const k of ['f.conv1.weight', 'f.layer1.0.conv1.weight', 'f.layer2.0.shortcut.0.weight', 'f.linear.weight', 'energy_output.weight', 'class_output.bias'])
    t.ok(names.includes(k), `official name ${k}`);
  official.dispose();
  const u = nn.unet('ddpmCifar10');
  const keys = [...u.stateDict().keys()];
  t.equal(keys.length, 328, '328 tensors, as the original release');
  for (const k of ['temb.dense.0.weight', 'conv_in.weight', 'down.0.block.0.norm1.weight', 'down.1.attn.0.q.weight', 'down.0.downsample.conv.weight', 'mid.block_1.conv1.weight', 'mid.attn_1.proj_out.bias', 'up.3.block.2.nin_shortcut.weight', 'up.1.upsample.conv.weight', 'norm_out.weight', 'conv_out.weight'])
    t.ok(keys.includes(k), `original name ${k}`);
  t.same(u.stateDict().get('down.1.attn.0.q.weight')!.shape, [256, 256, 1, 1], 'attention projections are 1×1 convs');
  u.dispose();
});

t.test('native program equals the TypeScript forward bit for bit', async (t) => {
  for (const [name, training] of [['ddpmTiny', false], ['ddpmSmall', true], ['wrn10-2', false]] as const) {
    tidy(() => {
      const mk = () => nn.modelFromPreset(name, { generator: new Generator(3) } as never);
      const a = mk();
      const b = mk();
      randomize(a, 1);
      randomize(b, 1);
      a.train(training);
      b.train(training);
      const x = randn([2, a.config.inChannels, 32, 32], { generator: new Generator(4) });
      const time = randint(0, 1000, [2], { generator: new Generator(5) });
      const ya = run(a, x, time);
      const yb = run(b, x, time, true);
      t.equal(maxAbsDiff(ya.toFloat32Array(), yb.toFloat32Array()), 0, `${name} (${training ? 'train, dropout masks from equal seeds' : 'eval'})`);
      a.dispose();
      b.dispose();
    });
  }
});

interface ParityCase {
  name: string;
  model: () => Model;
  batch: number;
  training?: boolean;
  /** Mixed-precision training: bf16 forward and backward, float32 parameters and gradients. */
  computeDtype?: 'bfloat16';
}

const parityCases: ParityCase[] = [
  { name: 'ddpmTiny', model: () => nn.unet('ddpmTiny'), batch: 3 },
  { name: 'ddpmSmall', model: () => nn.unet('ddpmSmall'), batch: 2 },
  { name: 'ddpmCifar10 (batch 2)', model: () => nn.unet('ddpmCifar10'), batch: 2 },
  { name: 'unet, no resample convs, 2 attention levels', model: () => nn.unet({ inChannels: 2, outChannels: 4, resolution: 16, channels: 16, channelMult: [1, 2, 3], numResBlocks: 1, attnResolutions: [16, 8], resampleWithConv: false, groups: 4, dropout: 0 }), batch: 2 },
  { name: 'wrn10-2', model: () => nn.wideResNet('wrn10-2'), batch: 4 },
  { name: 'wrn10-2, batch norm, training (running stats)', model: () => nn.wideResNet('wrn10-2', { norm: 'batch' }), batch: 4, training: true },
  { name: 'wrn16-4, group norm, 28 px, official heads', model: () => nn.wideResNet({ depth: 16, widen: 4, norm: 'group', groups: 8, inChannels: 1, resolution: 28, officialHeads: true }), batch: 2 },
  { name: 'wrn28-10 (batch 1)', model: () => nn.wideResNet('wrn28-10'), batch: 1 },
  { name: 'ddpmTiny, bf16 compute (mixed-precision gradients)', model: () => nn.unet('ddpmTiny'), batch: 3, computeDtype: 'bfloat16' },
  { name: 'wrn10-2, batch norm, training, bf16 compute', model: () => nn.wideResNet('wrn10-2', { norm: 'batch' }), batch: 4, training: true, computeDtype: 'bfloat16' },
];

const why = referenceUnavailable();
t.test('parity with the PyTorch reference (forward, input and parameter gradients)', { skip: !process.env.CI && why ? why : false }, async (t) => {
  if (why) throw new Error(`PyTorch reference unavailable: ${why}`);
  for (const [i, pc] of parityCases.entries()) {
    t.test(pc.name, async (t) => {
      const m = pc.model();
      randomize(m, 10 + i);
      m.train(pc.training ?? false);
      const g = new Generator(100 + i);
      const x = randn([pc.batch, m.config.inChannels, m.config.resolution, m.config.resolution], { generator: g });
      const time = randint(0, 1000, [pc.batch], { generator: g });
      const src = join(dir, `parity-${i}.in.safetensors`);
      const dst = join(dir, `parity-${i}.out.safetensors`);
      const isUnet = m instanceof nn.UNet;
      const y = run(m, x.requiresGrad_(), time, false, { computeDtype: pc.computeDtype });
      if (pc.computeDtype) {
        t.equal(y.dtype, 'float32', 'a bf16 forward returns float32');
        const was = m.training;
        m.eval(); // no second move of the batch-norm statistics
        const y32 = noGrad(() => run(m, x, time));
        m.train(was);
        const rel = maxAbsDiff(y.toFloat32Array(), y32.toFloat32Array()) / maxAbs(y32.toFloat32Array());
        if (!pc.training) t.ok(rel > 1e-5 && rel < 0.1, `bf16 really ran and stays near float32: max|Δ| / max|y| = ${rel.toExponential(2)}`);
        y32.dispose();
      }
      const upstream = randn(y.shape, { generator: g });
      const params = m.namedParameters();
      const grads = grad(y.mul(upstream).sum(), [x, ...params.map(([, p]) => p)], { allowUnused: true });
      x.requiresGrad_(false);
      t.pass('forward and backward ran');
      if (pc.computeDtype) t.ok(grads.every((gr) => gr === undefined || gr.dtype === 'float32'), 'gradients reach the float32 parameters as float32');
      // The reference starts from the state *before* the forward (a training forward moves
      // batch-norm statistics), so the file is written from a fresh, identically randomised model.
      const before = new Map<string, Tensor>();
      const fresh = pc.model();
      randomize(fresh, 10 + i);
      for (const [k, v] of fresh.stateDict()) before.set(`model.${k}`, v);
      before.set('input.x', x);
      if (isUnet) before.set('input.t', time);
      before.set('input.upstream', upstream);
      const mixed: Record<string, string> = pc.computeDtype ? { computeDtype: pc.computeDtype, grads: 'true' } : {};
      await io.writeSafetensors(src, before, { kind: isUnet ? 'unet' : 'wrn', config: JSON.stringify(m.config), training: String(pc.training ?? false), ...mixed });
      const r = spawnSync(PYTHON, ['bench/ref/models.py', 'parity', src, dst], { encoding: 'utf8' });
      t.equal(r.status, 0, `reference ran ${r.stderr.slice(-800)}`);
      if (r.status !== 0) return;
      const ref = (await io.readSafetensors(dst)).tensors;
      const yr = ref.get('output')!.toFloat32Array();
      const err = maxAbsDiff(y.toFloat32Array(), yr);
      t.ok(err <= 1e-4 * maxAbs(yr), `forward max|Δ| ${err.toExponential(2)} ≤ 1e-4·max|ref| (${maxAbs(yr).toExponential(2)})`);
      const gi = ref.get('grad.input')!.toFloat32Array();
      const errX = maxAbsDiff(grads[0]!.toFloat32Array(), gi);
      t.ok(errX <= 1e-4 * maxAbs(gi), `input gradient max|Δ| ${errX.toExponential(2)} vs max|ref| ${maxAbs(gi).toExponential(2)}`);
      let worst = 0;
      let worstName = '';
      for (const [j, [name]] of params.entries()) {
        const want = ref.get(`grad.model.${name}`);
        if (!want) {
          if (grads[j + 1] !== undefined) t.fail(`reference has no gradient for ${name} but langevin does`);
          continue; // unused in both (the official checkpoint's extra heads)
        }
        const w = want.toFloat32Array();
        const e = maxAbsDiff(grads[j + 1]!.toFloat32Array(), w) / Math.max(maxAbs(w), 1e-30);
        if (e > worst) [worst, worstName] = [e, name];
      }
      t.ok(worst <= 1e-4, `all ${params.length} parameter gradients within 1e-4·max|ref| (worst ${worst.toExponential(2)} at ${worstName})`);
      if (pc.training) {
        for (const [name, b] of m.namedBuffers()) {
          const want = ref.get(`buffer.${name}`)!;
          const e = maxAbsDiff(b.toFloat64Array(), want.toFloat64Array());
          t.ok(e <= 1e-5 * Math.max(1, maxAbs(want.toFloat64Array())), `buffer ${name} after the training forward (max|Δ| ${e.toExponential(2)})`);
        }
      }
      m.dispose();
      fresh.dispose();
      for (const v of ref.values()) v.dispose();
    });
  }
});

t.test('mixed precision (computeDtype bfloat16) equals the same policy in PyTorch', { skip: !process.env.CI && why ? why : false }, async (t) => {
  if (why) throw new Error(`PyTorch reference unavailable: ${why}`);
  const cases: ParityCase[] = [
    { name: 'ddpmTiny', model: () => nn.unet('ddpmTiny'), batch: 3 },
    { name: 'ddpmCifar10 (batch 2)', model: () => nn.unet('ddpmCifar10'), batch: 2 },
    { name: 'wrn10-2, batch norm (eval)', model: () => nn.wideResNet('wrn10-2', { norm: 'batch' }), batch: 4 },
  ];
  for (const [i, pc] of cases.entries()) {
    t.test(pc.name, async (t) => {
      const m = pc.model();
      randomize(m, 40 + i);
      m.eval();
      const g = new Generator(140 + i);
      const x = randn([pc.batch, m.config.inChannels, m.config.resolution, m.config.resolution], { generator: g });
      const time = randint(0, 1000, [pc.batch], { generator: g });
      const isUnet = m instanceof nn.UNet;
      const infer = (computeDtype: 'float32' | 'bfloat16') => (m instanceof nn.UNet ? m.forwardAsync(x, time, { computeDtype }) : m.forwardAsync(x, { computeDtype }));
      const y16 = await infer('bfloat16');
      const y32 = await infer('float32');
      t.equal(y16.dtype, 'float32', 'the output comes back as float32');
      const tensors = new Map<string, Tensor>([...m.stateDict()].map(([k, v]) => [`model.${k}`, v]));
      tensors.set('input.x', x);
      if (isUnet) tensors.set('input.t', time);
      const src = join(dir, `mixed-${i}.in.safetensors`);
      const dst = join(dir, `mixed-${i}.out.safetensors`);
      await io.writeSafetensors(src, tensors, { kind: isUnet ? 'unet' : 'wrn', config: JSON.stringify(m.config), training: 'false', computeDtype: 'bfloat16' });
      const r = spawnSync(PYTHON, ['bench/ref/models.py', 'parity', src, dst], { encoding: 'utf8' });
      t.equal(r.status, 0, `reference ran ${r.stderr.slice(-800)}`);
      if (r.status !== 0) return;
      const yr = (await io.readSafetensors(dst)).tensors.get('output')!;
      const ref = yr.toFloat32Array();
      const err = maxAbsDiff(y16.toFloat32Array(), ref);
      t.ok(err <= 1e-6 * maxAbs(ref), `bf16 forward vs the reference: max|Δ| ${err.toExponential(2)} (max|ref| ${maxAbs(ref).toExponential(2)})`);
      const vs32 = maxAbsDiff(y16.toFloat32Array(), y32.toFloat32Array()) / maxAbs(y32.toFloat32Array());
      t.ok(vs32 > 1e-5 && vs32 < 0.1, `bf16 really ran and stays near float32: max|Δ| / max|y| = ${vs32.toExponential(2)}`);
      for (const v of [y16, y32, yr, x, time]) v.dispose();
      m.dispose();
    });
  }
});

t.test('channels-last: model.to({ memoryFormat }) keeps outputs, gradients and weights', async (t) => {
  const relL2 = (a: Float32Array, b: Float32Array) => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) [num, den] = [num + (a[i] - b[i]) ** 2, den + b[i] ** 2];
    return Math.sqrt(num / den);
  };
  for (const [name, make, training] of [
    // Three output channels: a 1-channel NHWC output would pass as contiguous without the conversion.
    ['small RGB U-Net', () => nn.unet({ inChannels: 3, outChannels: 3, resolution: 16, channels: 16, channelMult: [1, 2], numResBlocks: 1, attnResolutions: [8], dropout: 0, groups: 4 }), false],
    ['wrn10-2, batch norm, training', () => nn.wideResNet('wrn10-2', { norm: 'batch' }), true],
  ] as const) {
    t.test(name, async (t) => {
      const a: Model = make();
      const b: Model = make();
      randomize(a, 60);
      randomize(b, 60);
      b.to({ memoryFormat: 'channelsLast' });
      a.train(training);
      b.train(training);
      const conv = b.parameters().filter((p) => p.ndim === 4);
      t.ok(conv.every((p) => p.isContiguousAs('channelsLast')) && conv.filter((p) => !p.isContiguous).length > 0, `${conv.length} convolution weights laid out NHWC`);
      const g = new Generator(61);
      const x = randn([2, a.config.inChannels, a.config.resolution, a.config.resolution], { generator: g });
      const time = randint(0, 1000, [2], { generator: g });
      const grads = (m: Model) => {
        const y = run(m, x, time);
        const gs = grad(y.square().mean(), m.parameters());
        return { y, gs };
      };
      const ra = grads(a);
      const rb = grads(b);
      t.ok(rb.y.isContiguous, 'the output comes back contiguous');
      const ey = relL2(rb.y.toFloat32Array(), ra.y.toFloat32Array());
      t.ok(ey < 1e-5, `forward: relative L2 difference ${ey.toExponential(2)} (a different kernel order only)`);
      const flat = (gs: (Tensor | undefined)[]) => Float32Array.from(gs.flatMap((gr) => Array.from(gr!.toFloat32Array())));
      const eg = relL2(flat(rb.gs), flat(ra.gs));
      t.ok(eg < 1e-4, `parameter gradients: relative L2 difference ${eg.toExponential(2)}`);
      if (!training) {
        const y16 = await (b instanceof nn.UNet ? b.forwardAsync(x, time, { computeDtype: 'bfloat16' }) : b.forwardAsync(x, { computeDtype: 'bfloat16' }));
        const e16 = relL2(y16.toFloat32Array(), ra.y.toFloat32Array());
        t.ok(e16 > 0 && e16 < 0.05, `bf16 compute channels-last stays near float32: ${e16.toExponential(2)}`);
      }
      // Weights save as usual: a contiguous model loading them computes what the channels-last one does.
      const file = join(dir, `cl-${name.split(',')[0]}.safetensors`);
      await b.saveWeights(file);
      const c = make();
      await c.loadWeights(file);
      c.train(training);
      const same = [...b.stateDict()].every(([k, v]) => maxAbsDiff(v.toFloat32Array(), c.stateDict().get(k)!.toFloat32Array()) === 0);
      t.ok(same, 'saved weights reload bit for bit into a contiguous model');
      b.to({ memoryFormat: 'contiguous' });
      t.ok(b.parameters().every((p) => p.isContiguous), "to({ memoryFormat: 'contiguous' }) converts back");
      for (const m of [a, b, c]) m.dispose();
    });
  }
  const m = nn.unet('ddpmTiny');
  t.throws(() => m.to({ memoryFormat: 'nhwc' as never }), /memoryFormat must be 'contiguous' or 'channelsLast'/);
  t.throws(() => randn([3, 4]).contiguous('channelsLast'), /channelsLast needs a 4-d tensor/);
  m.dispose();
});

t.test('computeDtype: validation and auto', async (t) => {
  const m = nn.unet('ddpmTiny');
  const x = randn([1, 1, 32, 32]);
  const time = randint(0, 1000, [1]);
  await t.rejects(m.forwardAsync(x, time, { computeDtype: 'float16' as never }), RangeError, 'float16 is refused');
  const cpu = buildInfo().cpu;
  t.equal(resolveComputeDtype('auto'), cpu.avx512bf16 || cpu.amxBf16 ? 'bfloat16' : 'float32', 'auto follows the CPU');
  t.equal(resolveComputeDtype(undefined), 'float32', 'the default is float32');
  t.equal(resolveComputeDtype('auto', 'cuda'), 'bfloat16', 'auto on CUDA is bfloat16');
  m.dispose();
  x.dispose();
  time.dispose();
});

t.test('weights: safetensors round trip, byte for byte, and loadModel', async (t) => {
  const m = nn.unet('ddpmTiny', { generator: new Generator(9) });
  randomize(m, 9);
  const a = join(dir, 'a.safetensors');
  const b = join(dir, 'b.safetensors');
  await m.saveWeights(a);
  const back = (await nn.loadModel(a)) as nn.UNet;
  await back.saveWeights(b);
  t.same(readFileSync(b), readFileSync(a), 'written, re-read and re-written files are identical');
  const meta = (await io.readSafetensors(a)).metadata;
  t.equal(meta['langevin.kind'], 'unet');
  t.same(JSON.parse(meta['langevin.config']), m.config, 'config travels in __metadata__');
  m.eval();
  back.eval();
  tidy(() => {
    const x = randn([2, 1, 32, 32], { generator: new Generator(1) });
    const time = randint(0, 1000, [2], { generator: new Generator(2) });
    t.equal(maxAbsDiff(m.forward(x, time).toFloat32Array(), back.forward(x, time).toFloat32Array()), 0, 'reloaded model gives identical outputs');
  });
  const w = nn.wideResNet('wrn10-2', { norm: 'batch' });
  await w.saveWeights(join(dir, 'w.safetensors'));
  const w2 = await nn.loadModel(join(dir, 'w.safetensors'));
  t.ok(w2 instanceof nn.WideResNet && w2.config.norm === 'batch', 'a WRN comes back as a WRN with its config');
  t.ok([...w2.stateDict().keys()].includes('f.bn1.num_batches_tracked'), 'buffers are saved');
  await t.rejects(nn.loadModel(join(dir, 'nope.safetensors')), { code: 'ERR_SAFETENSORS' });
  m.dispose(); back.dispose(); w.dispose(); w2.dispose();
});

t.test('diffusers layout: export → import gives identical outputs; legacy names load', async (t) => {
  const m = nn.unet('ddpmTiny', { generator: new Generator(5) });
  randomize(m, 5);
  const d = join(dir, 'hf');
  await nn.saveDiffusers(m, d);
  const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
  t.equal(cfg._class_name, 'UNet2DModel');
  t.same(cfg.block_out_channels, [32, 64, 64]);
  t.equal(cfg.downsample_padding, 0);
  t.equal(cfg.freq_shift, 1);
  const file = await io.readSafetensors(join(d, 'diffusion_pytorch_model.safetensors'));
  const keys = [...file.tensors.keys()];
  t.ok(keys.includes('time_embedding.linear_1.weight') && keys.includes('conv_norm_out.weight') && keys.includes('mid_block.attentions.0.to_out.0.weight'), 'diffusers key names');
  t.ok(keys.includes('up_blocks.0.resnets.1.conv_shortcut.weight'), 'up levels reversed, nin_shortcut → conv_shortcut');
  t.same(file.tensors.get('down_blocks.2.attentions.0.to_q.weight')!.shape, [64, 64], 'attention weights as Linear [C, C]');
  t.equal(keys.length, m.stateDict().size, 'one key per tensor');
  for (const v of file.tensors.values()) v.dispose();
  const back = await nn.loadDiffusers(d);
  t.same(back.config, m.config, 'config.json maps back to the same U-Net config');
  m.eval();
  back.eval();
  tidy(() => {
    const x = randn([2, 1, 32, 32], { generator: new Generator(1) });
    const time = randint(0, 1000, [2], { generator: new Generator(2) });
    // Same weights and the same forward: identical. (Against diffusers' own forward the timestep
    // embedding's op order differs, ~1e-4 in sin/cos arguments at t≈999; that needs a looser bound.)
    t.equal(maxAbsDiff(m.forward(x, time).toFloat32Array(), back.forward(x, time).toFloat32Array()), 0, 'identical outputs');
  });
  // legacy attention names (query/key/value/proj_attn) as old hub checkpoints store them
  const legacy = new Map<string, Tensor>();
  const hf = nn.toDiffusers(m.stateDict(), 3);
  for (const [k, v] of hf) legacy.set(k.replace('.to_q.', '.query.').replace('.to_k.', '.key.').replace('.to_v.', '.value.').replace('.to_out.0.', '.proj_attn.'), v);
  await io.writeSafetensors(join(dir, 'legacy.safetensors'), legacy);
  const third = nn.unet('ddpmTiny');
  await third.loadWeights(join(dir, 'legacy.safetensors'));
  t.equal(maxAbsDiff(third.stateDict().get('mid.attn_1.q.weight')!.toFloat32Array(), m.stateDict().get('mid.attn_1.q.weight')!.toFloat32Array()), 0, 'legacy names load');
  for (const k of ['conv_in.weight', 'temb.dense.1.bias', 'down.1.downsample.conv.weight', 'up.2.attn.0.proj_out.weight', 'mid.block_2.temb_proj.weight'])
    t.equal(nn.fromDiffusersKey(nn.toDiffusersKey(k, 3), 3), k, `name mapping round trip: ${k}`);
  t.throws(() => nn.fromDiffusersConfig({ block_out_channels: [32], downsample_padding: 1, sample_size: 32 }), /downsample_padding/);
  m.dispose(); back.dispose(); third.dispose();
});

t.test('loadStateDict reports missing, unexpected and mismatched keys', async (t) => {
  const m = nn.wideResNet('wrn10-2');
  const sd = new Map(m.stateDict());
  sd.delete('class_output.bias');
  sd.set('f.extra.weight', ones([2]));
  sd.set('f.conv1.weight', ones([16, 3, 3, 3]));
  try {
    m.loadStateDict(sd);
    t.fail('should throw');
  } catch (e) {
    const err = e as nn.StateDictError;
    t.equal(err.code, 'ERR_STATE_DICT');
    t.same(err.missing, ['class_output.bias']);
    t.same(err.unexpected, ['f.extra.weight']);
    t.same(err.mismatched.map((x) => x.key), ['f.conv1.weight']);
    t.match(err.message, /missing keys: class_output.bias; unexpected keys: f.extra.weight; shape mismatches: f.conv1.weight expects \[16,1,3,3\] got \[16,3,3,3\]/);
  }
  sd.set('f.conv1.weight', m.stateDict().get('f.conv1.weight')!);
  t.doesNotThrow(() => m.loadStateDict(sd, { strict: false }), 'non-strict ignores missing/unexpected');
  m.dispose();
});

t.test('config and input validation quote the bad values', async (t) => {
  t.throws(() => nn.unet({ resolution: 28, channelMult: [1, 2, 2, 2] }), /resolution 28 is not divisible by 2\^\(levels−1\) = 8/);
  t.throws(() => nn.unet({ attnResolutions: [12] }), /attnResolutions \[12\] are never reached \(the model runs at 32, 16, 8, 4 px\)/);
  t.throws(() => nn.unet({ channels: 20 }), /not divisible by groups 32/);
  t.throws(() => nn.wideResNet({ depth: 27 }), /6n\+4/);
  t.throws(() => nn.wideResNet({ norm: 'weird' as never }), /norm must be/);
  t.throws(() => nn.unet('wrn28-10' as never), /not a U-Net preset/);
  const m = nn.unet('ddpmTiny');
  t.throws(() => m.forward(randn([1, 3, 32, 32]), randint(0, 10, [1])), /expected input \[N, 1, 32, 32\], got \[1, 3, 32, 32\]/);
  t.throws(() => m.forward(randn([2, 1, 32, 32]), randint(0, 10, [3])), /timesteps must be \[2\]/);
  t.throws(() => m.forward(randn([1, 1, 16, 16]), randint(0, 10, [1])), RangeError);
  const w = nn.wideResNet('wrn10-2', { resolution: 28 });
  t.same(w.forward(randn([2, 1, 28, 28])).shape, [2, 10], 'global average pooling works at 28 px');
  m.dispose(); w.dispose();
});

t.test('modules: to(dtype) rebuilds the program; disposed and busy parameters are errors', async (t) => {
  const m = nn.wideResNet('wrn10-2', { norm: 'batch' });
  m.eval();
  const x = randn([2, 1, 32, 32]);
  const y32 = m.forward(x);
  m.to('float64');
  t.equal(m.parameters()[0].dtype, 'float64');
  const y64 = m.forward(x.double());
  t.equal(y64.dtype, 'float64', 'the program runs on the new float64 parameters');
  t.ok(maxAbsDiff(y32.toFloat64Array(), y64.toFloat64Array()) < 1e-4, 'same function in float64');
  // a job writing a running-stat buffer makes a training forward (which writes it too) busy
  const rm = m.stateDict().get('f.bn1.running_mean')!;
  m.train();
  const job = gaussianLangevin(rm, { steps: 3000 });
  t.throws(() => m.forward(x.double()), { code: 'ERR_BUSY' });
  await job;
  t.doesNotThrow(() => m.forward(x.double()));
  m.stateDict().get('class_output.weight')!.dispose();
  t.throws(() => m.forward(x.double()), { code: 'ERR_DISPOSED' });
  m.dispose();
});

t.test('foreign safetensors (written by PyTorch) load with equal values in every dtype', { skip: !process.env.CI && why ? why : false }, async (t) => {
  const p = join(dir, 'torch-dtypes.safetensors');
  const r = spawnSync(PYTHON, ['bench/ref/dtype_file.py', p], { encoding: 'utf8' });
  t.equal(r.status, 0, `writer ran ${r.stderr.slice(-300)}`);
  const { tensors, metadata } = await io.readSafetensors(p);
  t.match(metadata.writer, /^torch /);
  const base = Array.from({ length: 12 }, (_, i) => (i - 6) / 4);
  for (const [name, dtype] of [['f64', 'float64'], ['f32', 'float32'], ['bf16', 'bfloat16'], ['f16', 'float16']] as const) {
    t.equal(tensors.get(name)!.dtype, dtype, `${name} is ${dtype}`);
    t.same(Array.from(tensors.get(name)!.toFloat64Array()), base, `${name} values`);
  }
  t.same(Array.from(tensors.get('i64')!.toFloat64Array()), base.map((v) => v * 4), 'i64 values');
  t.same(Array.from(tensors.get('i32')!.toFloat64Array()), base.map((v) => v * 4), 'i32 values');
  t.same(Array.from(tensors.get('u8')!.toFloat64Array()), base.map((v) => v * 4 + 6), 'u8 values');
  t.same(Array.from(tensors.get('bool')!.toFloat64Array()), base.map((v) => (v > 0 ? 1 : 0)), 'bool values');
  t.same(tensors.get('empty')!.shape, [0, 3], 'empty tensor');
  t.same(tensors.get('scalar')!.shape, [], '0-d tensor');
  t.equal(tensors.get('scalar')!.item(), 2.5);
  // and back: langevin's file read by PyTorch's reader gives the same bytes
  const back = join(dir, 'langevin-dtypes.safetensors');
  await io.writeSafetensors(back, tensors);
  const check = spawnSync(PYTHON, ['-c', `import sys; sys.path.insert(0, 'bench/ref'); import safetensors_io as s; a,_=s.read(${JSON.stringify(p)}); b,_=s.read(${JSON.stringify(back)}); import torch; print(all(torch.equal(a[k], b[k]) for k in a))`], { encoding: 'utf8' });
  t.equal(check.stdout.trim(), 'True', 'PyTorch reads langevin\'s file back to equal tensors');
  for (const v of tensors.values()) v.dispose();
});

t.test('forwardAsync runs on a worker thread with the parameters locked', async (t) => {
  const m = nn.unet('ddpmTiny');
  randomize(m, 2);
  m.eval();
  const x = randn([2, 1, 32, 32], { generator: new Generator(1) });
  const time = randint(0, 1000, [2], { generator: new Generator(2) });
  const p = m.forwardAsync(x, time);
  t.throws(() => m.stateDict().get('conv_in.weight')!.fill_(0), { code: 'ERR_BUSY' }, 'parameters are read-locked');
  t.throws(() => x.dispose(), { code: 'ERR_BUSY' }, 'inputs too');
  const y = await p;
  const want = noGrad(() => m.forward(x, time));
  t.equal(maxAbsDiff(y.toFloat32Array(), want.toFloat32Array()), 0, 'same result as the synchronous forward');
  t.doesNotThrow(() => m.stateDict().get('conv_in.weight')!.fill_(0), 'unlocked after');
  await t.rejects(m.forwardAsync(x, time, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  m.dispose();
});

t.test('malformed safetensors give clear errors', async (t) => {
  const good = Buffer.concat(io.encodeSafetensors({ a: ones([2, 3]), b: ones([4], { dtype: 'int64' }) }, { k: 'v' }));
  const parsed = io.decodeSafetensors(good);
  t.same([...parsed.tensors.keys()], ['a', 'b']);
  t.same(parsed.metadata, { k: 'v' });
  const withHeader = (h: object, dataLen: number) => {
    let json = JSON.stringify(h);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    return Buffer.concat([len, Buffer.from(json), Buffer.alloc(dataLen)]);
  };
  const lying = Buffer.from(good);
  lying.writeBigUInt64LE(BigInt(good.length * 2), 0);
  const huge = Buffer.from(good);
  huge.writeBigUInt64LE(2n ** 40n, 0);
  const cases: [string, Buffer, RegExp][] = [
    ['empty file', Buffer.alloc(0), /too short/],
    ['truncated data', good.subarray(0, good.length - 5), /truncated|trailing|ends at/],
    ['lying header length', lying, /header claims/],
    ['huge header', huge, /exceeds the limit/],
    ['bad JSON', withHeader({}, 0).fill(0x7b, 8), /not valid UTF-8 JSON/],
    ['header not an object', withHeader([1, 2] as never, 0), /not a JSON object/],
    ['overlapping offsets', withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12), /overlaps/],
    ['hole between tensors', withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12), /belong to no tensor/],
    ['dtype × shape vs bytes', withHeader({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12 bytes but its offsets span 8/],
    ['offsets beyond the data', withHeader({ a: { dtype: 'U8', shape: [16], data_offsets: [0, 16] } }, 8), /data section has 8 bytes/],
    ['unknown dtype', withHeader({ a: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, 1), /unknown dtype/],
    ['negative shape', withHeader({ a: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }, 0), /bad shape/],
    ['metadata not strings', withHeader({ __metadata__: { a: 1 } }, 0), /not a string/],
  ];
  for (const [name, bytes, pattern] of cases) {
    const p = join(dir, `bad-${name.replace(/\W+/g, '-')}.safetensors`);
    writeFileSync(p, bytes);
    await t.rejects(io.readSafetensors(p), { name: 'SafetensorsError', code: 'ERR_SAFETENSORS', message: pattern }, name);
  }
  await t.rejects(io.readSafetensors(join(dir, 'missing.safetensors')), /cannot read \(ENOENT\)/);
});

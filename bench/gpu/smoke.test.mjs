// Device smoke tests for a GPU session (node:test on compiled JS; run by bench/gpu/check.sh). On a
// machine without CUDA they run on the CPU, which is how the script is dry-run. Each test compares
// the device against the CPU on the same random draws (langevin draws on the CPU generator for every
// device) and prints timings; tolerances allow TF32 on the device.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, buildInfo, diffusion as D, full, jem, nn, noGrad, randn, tidy, train as T } from '../../dist/index.js';
import { randomize } from '../randomize.mjs';

const info = buildInfo();
const dev = info.cudaAvailable ? 'cuda' : 'cpu';
const tol = dev === 'cuda' ? 2e-2 : 1e-5; // relative to max|CPU|: TF32 convolutions on the device
console.log(`device ${dev}; libtorch ${info.libtorch}; cuDNN ${info.cudnn ?? '-'}`);

function relDiff(a, b) {
  const x = a.cpu().toFloat32Array();
  const y = b.cpu().toFloat32Array();
  let d = 0;
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    d = Math.max(d, Math.abs(x[i] - y[i]));
    m = Math.max(m, Math.abs(y[i]));
  }
  return d / m;
}

function timed(label, fn) {
  const t0 = performance.now();
  const r = fn();
  console.log(`${label}: ${(performance.now() - t0).toFixed(1)} ms`);
  return r;
}

test('a tensor survives the round trip to the device', () => {
  const x = randn([3, 5], { generator: new Generator(1) });
  assert.deepEqual(Array.from(x.to(dev).cpu().toFloat32Array()), Array.from(x.toFloat32Array()));
});

test('U-Net (ddpmCifar10) forward on the device equals the CPU forward', () => {
  const cpu = randomize(nn.unet('ddpmCifar10'), 1).eval();
  const onDev = randomize(nn.unet('ddpmCifar10'), 1).eval().to(dev);
  const x = randn([4, 3, 32, 32], { generator: new Generator(2) });
  const t = full([4], 500, { dtype: 'int64' });
  const want = noGrad(() => cpu.forward(x, t));
  noGrad(() => onDev.forward(x.to(dev), t.to(dev))); // warm-up (cuDNN autotuning)
  const got = timed(`ddpmCifar10 b4 forward on ${dev}`, () => noGrad(() => onDev.forward(x.to(dev), t.to(dev))).cpu());
  assert.ok(relDiff(got, want) <= tol, `rel diff ${relDiff(got, want)}`);
});

test('DDIM sampling (20 steps, ddpmTiny) on the device matches the CPU', async () => {
  const cpu = randomize(nn.unet('ddpmTiny'), 3).eval();
  const onDev = randomize(nn.unet('ddpmTiny'), 3).eval().to(dev);
  const d = new D.GaussianDiffusion();
  const opts = { count: 8, sampler: 'ddim', steps: 20, seed: 0 };
  const want = (await D.sample(cpu, d, opts)).x;
  const t0 = performance.now();
  const got = (await D.sample(onDev, d, { ...opts, device: dev })).x;
  console.log(`ddpmTiny DDIM-20 b8 on ${dev}: ${(performance.now() - t0).toFixed(1)} ms`);
  assert.ok(relDiff(got, want) <= 5 * tol, `rel diff ${relDiff(got, want)}`);
});

test('bf16-compute sampling (DDIM-20, the shipped ddpmTiny) on the device stays near float32 on the CPU', async () => {
  // Trained weights: random full-scale ones make sampling chaotic, and any rounding grows.
  const file = 'artifacts/ddpm-fmnist-tiny/model.safetensors';
  const cpu = await D.loadDdpm(file, { weights: 'ema' });
  const onDev = await D.loadDdpm(file, { weights: 'ema' });
  onDev.model.to(dev);
  const opts = { count: 8, sampler: 'ddim', steps: 20, seed: 0 };
  const want = D.toUint8((await D.sample(cpu.model, cpu.diffusion, opts)).x).to('float32');
  const t0 = performance.now();
  const r = await D.sample(onDev.model, onDev.diffusion, { ...opts, device: dev, computeDtype: 'bfloat16' });
  console.log(`ddpmTiny DDIM-20 b8 bf16 on ${dev}: ${(performance.now() - t0).toFixed(1)} ms`);
  assert.equal(r.computeDtype, 'bfloat16');
  const meanAbs = D.toUint8(r.x.cpu()).to('float32').sub(want).abs().mean().item();
  assert.ok(meanAbs < 2, `mean |Δ| ${meanAbs} grey levels`);
});

test('SGLD (2 steps, wrn10-2) on the device matches the CPU', () => {
  const cpu = randomize(nn.wideResNet('wrn10-2'), 4).eval();
  const onDev = randomize(nn.wideResNet('wrn10-2'), 4).eval().to(dev);
  const x = randn([16, 1, 32, 32], { generator: new Generator(5) }).clamp(-1, 1);
  const want = jem.sgld(cpu, x, { steps: 2, generator: new Generator(6) });
  const got = timed(`wrn10-2 b16 SGLD×2 on ${dev}`, () => jem.sgld(onDev, x.to(dev), { steps: 2, generator: new Generator(6) }));
  assert.ok(relDiff(got, want) <= tol, `rel diff ${relDiff(got, want)}`);
});

test('a training step (forward, backward, Adam) runs on the device and changes the weights', () => {
  const m = randomize(nn.wideResNet('wrn10-2'), 7).to(dev);
  const opt = new T.Adam(m.parameters(), { lr: 1e-3 });
  const before = m.parameters()[0].cpu().toFloat32Array();
  const x = randn([32, 1, 32, 32], { generator: new Generator(8) }).to(dev);
  const loss = timed(`wrn10-2 b32 train step on ${dev}`, () =>
    tidy(() => {
      const l = m.forward(x).logsumexp(1).mean();
      opt.zeroGrad();
      l.backward();
      opt.step();
      return l.item();
    }),
  );
  assert.ok(Number.isFinite(loss));
  assert.notDeepEqual(Array.from(m.parameters()[0].cpu().toFloat32Array()), Array.from(before));
});

test('mixed-precision training (bf16 compute) on the device: float32 gradients near the CPU float32 ones', () => {
  const cpu = randomize(nn.unet('ddpmTiny'), 9);
  const onDev = randomize(nn.unet('ddpmTiny'), 9).to(dev);
  const x = randn([8, 1, 32, 32], { generator: new Generator(10) });
  const t = full([8], 300, { dtype: 'int64' });
  const gradOf = (m, xx, tt, computeDtype) =>
    tidy(() => {
      for (const p of m.parameters()) p.grad = undefined;
      m.forward(xx, tt, { computeDtype }).square().mean().backward();
      return m.parameters().map((p) => p.grad.cpu());
    });
  const want = gradOf(cpu, x, t, 'float32');
  const got = timed(`ddpmTiny b8 bf16 forward+backward on ${dev}`, () => gradOf(onDev, x.to(dev), t.to(dev), 'bfloat16'));
  assert.ok(got.every((g) => g.dtype === 'float32'), 'float32 gradients on the float32 weights');
  // Over all parameters at once: a few gradients are ~0 in exact arithmetic (a conv bias before
  // GroupNorm), so per-tensor relative errors would compare rounding noise with rounding noise.
  let num = 0;
  let den = 0;
  for (const [i, g] of got.entries()) {
    const a = g.toFloat32Array();
    const b = want[i].toFloat32Array();
    for (let k = 0; k < a.length; k++) {
      num += (a[k] - b[k]) ** 2;
      den += b[k] ** 2;
    }
  }
  const rel = Math.sqrt(num / den);
  console.log(`parameter gradients, bf16 on ${dev} vs float32 on the CPU: relative L2 error ${rel.toExponential(2)}`);
  assert.ok(rel > 0 && rel < 0.05, `relative L2 error ${rel}`);
});

test('a channels-last U-Net (ddpmCifar10, bf16 compute) on the device stays near the CPU float32 forward', async () => {
  const cpu = randomize(nn.unet('ddpmCifar10'), 11).eval();
  const onDev = randomize(nn.unet('ddpmCifar10'), 11).eval().to({ device: dev, memoryFormat: 'channelsLast' });
  const x = randn([4, 3, 32, 32], { generator: new Generator(12) });
  const t = full([4], 500, { dtype: 'int64' });
  const want = noGrad(() => cpu.forward(x, t));
  await onDev.forwardAsync(x.to(dev), t.to(dev), { computeDtype: 'bfloat16' }); // warm-up (cuDNN autotuning)
  const t0 = performance.now();
  const got = await onDev.forwardAsync(x.to(dev), t.to(dev), { computeDtype: 'bfloat16' });
  console.log(`ddpmCifar10 b4 bf16 channels-last forward on ${dev}: ${(performance.now() - t0).toFixed(1)} ms`);
  assert.ok(got.isContiguous, 'the output comes back contiguous');
  assert.ok(relDiff(got, want) <= 0.05, `rel diff ${relDiff(got, want)}`);
});

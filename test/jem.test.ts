// JEM: the energy API (native and TypeScript paths), SGLD and the replay buffer against the PyTorch
// reference on fixed tensors and noise, the JEM loss and its gradients, chain semantics, buffer
// semantics, and the trainer (resume, checkpoints with the buffer, the divergence guard).
import t from 'tap';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Generator, Tensor, cat, data, io, jem, nn, noGrad, rand, randint, randn, tensor, train as T } from '../ts/index.js';
import { PYTHON, maxAbs, maxAbsDiff, referenceUnavailable } from './lib/reference.js';
import { randomize } from './lib/models.js';

const dir = mkdtempSync(join(tmpdir(), 'langevin-jem-'));
const smallWrn = (seed = 0): nn.WideResNet => nn.wideResNet({ depth: 10, widen: 1, classes: 10, inChannels: 1, resolution: 16, generator: new Generator(seed) });

/** The same WRN through TypeScript autograd (the path any user Module takes). */
function eagerView(m: nn.WideResNet): jem.Classifier {
  return {
    get training() {
      return m.training;
    },
    eval: () => m.eval(),
    train: (on = true) => m.train(on),
    forward: (x: Tensor) => m.forwardEager(x),
  } as unknown as jem.Classifier;
}

function digits(n: number, seed: number, res = 16): data.ImageDataset {
  // Ten classes of bars at class-dependent positions, plus noise: learnable in a few steps.
  const px = new Uint8Array(n * res * res);
  const labels = new Uint8Array(n);
  const noise = rand([n * res * res], { generator: new Generator(seed) }).toFloat32Array();
  for (let i = 0; i < n; i++) {
    const c = i % 10;
    labels[i] = c;
    for (let y = 0; y < res; y++) for (let x = 0; x < res; x++) px[i * res * res + y * res + x] = Math.round((x === c + 3 || y === c + 3 ? 200 : 0) + 40 * noise[i * res * res + y * res + x]);
  }
  return data.ImageDataset.fromBytes(px, [n, 1, res, res], labels, 'bars');
}

t.test('energy API: E(x), E(x, y), p(y|x), ∂E/∂x native = TypeScript, parameter grads untouched', async (t) => {
  const m = smallWrn();
  randomize(m, 1);
  const x = randn([4, 1, 16, 16], { generator: new Generator(2) });
  const y = tensor(BigInt64Array.from([0n, 3n, 9n, 3n]));
  const logits = m.forward(x);
  const lse = logits.logsumexp(1);
  t.equal(maxAbsDiff(jem.energy(m, x).toFloat32Array(), lse.neg().toFloat32Array()), 0, 'E(x) = −logsumexp f(x)');
  t.equal(maxAbsDiff(jem.energy(m, x, y).toFloat32Array(), logits.gather(1, y.reshape([-1, 1])).squeeze(1).neg().toFloat32Array()), 0, 'E(x, y) = −f(x)[y]');
  const p = jem.classProbs(m, x).sum(1).toFloat32Array();
  t.ok(p.every((v) => Math.abs(v - 1) < 1e-6), 'p(y|x) sums to 1');
  const a = jem.energyGrad(m, x);
  const b = jem.energyGrad(eagerView(m), x);
  t.equal(maxAbsDiff(a.energy.toFloat32Array(), b.energy.toFloat32Array()), 0, 'native and TypeScript energies are identical');
  t.equal(maxAbsDiff(a.grad.toFloat32Array(), b.grad.toFloat32Array()), 0, 'and so are the input gradients');
  t.ok(m.parameters().every((q) => q.grad === undefined || q.grad === null), 'parameter .grad untouched');
  // Finite differences in float64 along a random direction.
  const m64 = smallWrn().to('float64') as nn.WideResNet;
  randomize(m64, 1);
  const x64 = x.double();
  const v = randn(x.shape, { generator: new Generator(3), dtype: 'float64' });
  const g64 = jem.energyGrad(m64, x64).grad;
  const h = 1e-6;
  const fd = (jem.energy(m64, x64.add(v.mul(h))).sum().item() - jem.energy(m64, x64.sub(v.mul(h))).sum().item()) / (2 * h);
  const an = g64.mul(v).sum().item();
  t.ok(Math.abs(fd - an) < 1e-6 * Math.max(1, Math.abs(an)), `∂E/∂x·v = ${an.toFixed(8)} vs finite difference ${fd.toFixed(8)}`);
  t.throws(() => jem.energyGrad(m, x, { y: tensor([1, 2]) }), /y must be int64 labels \[4\]/);
  t.equal(m.training, true, 'the model is back in training mode');
});

const why = referenceUnavailable();
t.test('energy, SGLD, buffer and JEM loss vs the PyTorch reference', { skip: !process.env.CI && why ? why : false }, async (t) => {
  if (why) throw new Error(`PyTorch reference unavailable: ${why}`);
  const m = smallWrn();
  randomize(m, 4);
  m.eval();
  const g = new Generator(5);
  const x = rand([6, 1, 16, 16], { generator: g }).mul(2).sub(1);
  const y = randint(0, 10, [6], { generator: g });
  const buffer = rand([40, 1, 16, 16], { generator: g }).mul(2).sub(1);
  const xData = rand([4, 1, 16, 16], { generator: g }).mul(2).sub(1);
  const xQ = rand([4, 1, 16, 16], { generator: g }).mul(2).sub(1);
  const xLab = rand([4, 1, 16, 16], { generator: g }).mul(2).sub(1);
  const yLab = randint(0, 10, [4], { generator: g });
  const sgldCases: Record<string, jem.SgldOptions & { cond?: boolean }> = {
    official: { steps: 5, stepSize: 1, noise: 0.01 },
    conditional: { steps: 5, stepSize: 1, noise: 0.01, cond: true },
    proximal: { steps: 4, stepSize: 0.5, noise: 0.02, gradClamp: 0.01, clamp: [-1, 1] },
  };
  const src = join(dir, 'jem.in.safetensors');
  const dst = join(dir, 'jem.out.safetensors');
  const tensors = new Map<string, Tensor>([...m.stateDict()].map(([k, v]) => [`model.${k}`, v]));
  for (const [k, v] of Object.entries({ x, y, buffer, x_data: xData, x_q: xQ, x_lab: xLab, y_lab: yLab })) tensors.set(k, v);
  const pgdStart = x.add(rand(x.shape, { generator: g }).sub(0.5).mul(0.1));
  tensors.set('pgd_start', pgdStart);
  await io.writeSafetensors(src, tensors, { model: JSON.stringify(m.config), sgld: JSON.stringify(sgldCases), seed: '7', reinit: '0.3', classes: '10', pgd_eps: '0.1', pgd_alpha: '0.025', bf16: 'true' });
  const r = spawnSync(PYTHON, ['bench/ref/jem.py', 'parity', src, dst], { encoding: 'utf8' });
  t.equal(r.status, 0, `reference ran ${r.stderr.slice(-800)}`);
  if (r.status !== 0) return;
  const ref = (await io.readSafetensors(dst)).tensors;
  const close = (got: Tensor, key: string, what: string) => {
    const want = ref.get(key)!.toFloat64Array();
    const err = maxAbsDiff(got.toFloat64Array(), want);
    t.ok(err <= 1e-5 * maxAbs(want), `${what}: max|Δ| ${err.toExponential(2)} (max|ref| ${maxAbs(want).toExponential(2)})`);
  };
  const e = jem.energyGrad(m, x);
  close(e.energy, 'energy', 'E(x)');
  close(e.grad, 'grad', '∂E/∂x');
  const ey = jem.energyGrad(m, x, { y });
  close(ey.energy, 'energy_y', 'E(x, y)');
  close(ey.grad, 'grad_y', '∂E(x, y)/∂x');
  for (const [name, c] of Object.entries(sgldCases)) {
    const opts = { ...c, y: c.cond ? y : undefined, generator: new Generator(7) };
    close(jem.sgld(m, x, opts), `sgld.${name}`, `SGLD ${name} (${c.steps} steps, native)`);
    close(jem.sgld(eagerView(m), x, { ...opts, generator: new Generator(7) }), `sgld.${name}`, `SGLD ${name} (TypeScript path)`);
  }
  // bfloat16 compute: the same policy in PyTorch gives the same numbers; float32 is near.
  const eb = jem.energyGrad(m, x, { computeDtype: 'bfloat16' });
  close(eb.energy, 'bf16.energy', 'E(x) in bf16 compute');
  close(eb.grad, 'bf16.grad', '∂E/∂x in bf16 compute');
  const gradGap = eb.grad.sub(e.grad).norm().item() / e.grad.norm().item();
  t.ok(gradGap > 1e-5 && gradGap < 0.1, `bf16 ∂E/∂x is near float32's (‖Δ‖/‖g‖ = ${gradGap.toExponential(2)}; random weights)`);
  close(jem.sgld(m, x, { steps: 5, computeDtype: 'bfloat16', generator: new Generator(7) }), 'bf16.sgld', 'SGLD official, 5 steps, bf16 compute (weight copies cached across steps)');
  t.throws(() => jem.sgld(eagerView(m), x, { steps: 1, computeDtype: 'bfloat16' }), /needs a compiled WideResNet/, 'bf16 needs the compiled path');
  {
    // The cached bf16 weight copies follow in-place weight updates (an optimizer step).
    const twin = smallWrn();
    twin.loadStateDict(m.stateDict());
    twin.eval();
    const saved = m.parameters()[0].clone();
    noGrad(() => m.parameters()[0].mul_(1.5));
    noGrad(() => twin.parameters()[0].mul_(1.5));
    const after = jem.energyGrad(m, x, { computeDtype: 'bfloat16' });
    const fresh = jem.energyGrad(twin, x, { computeDtype: 'bfloat16' });
    t.equal(maxAbsDiff(after.grad.toFloat64Array(), fresh.grad.toFloat64Array()), 0, 'an in-place weight update invalidates the cached bf16 copies');
    t.ok(maxAbsDiff(after.grad.toFloat64Array(), eb.grad.toFloat64Array()) > 0, 'and the gradient changes with it');
    noGrad(() => m.parameters()[0].copy_(saved));
    m.program.release();
    const again = jem.energyGrad(m, x, { computeDtype: 'bfloat16' });
    t.equal(maxAbsDiff(again.grad.toFloat64Array(), eb.grad.toFloat64Array()), 0, 'weights restored and the cache released: the same gradient as before');
    twin.dispose();
    saved.dispose();
  }
  const rb = new jem.ReplayBuffer({ size: 40, shape: [1, 16, 16], reinitFreq: 0.3 });
  rb.data.copy_(buffer);
  const s = rb.sample(6, { generator: new Generator(7) });
  t.same(Array.from(s.indices.toArray() as BigInt64Array, Number), Array.from(ref.get('buffer.inds')!.toArray() as BigInt64Array, Number), 'buffer: the same indices from the same seed');
  close(s.x, 'buffer.x', 'buffer: chain starts (stored or re-initialised)');
  const rc = new jem.ReplayBuffer({ size: 40, shape: [1, 16, 16], reinitFreq: 0.3, classes: 10 });
  rc.data.copy_(buffer);
  const sc = rc.sample(6, { generator: new Generator(7) });
  t.same(Array.from(sc.indices.toArray() as BigInt64Array, Number), Array.from(ref.get('buffer_cond.inds')!.toArray() as BigInt64Array, Number), 'class-conditional buffer: same indices');
  close(sc.x, 'buffer_cond.x', 'class-conditional buffer: chain starts');
  for (const norm of ['linf', 'l2'] as const) close(jem.pgdStep(m, x, pgdStart, y, 0.1, 0.025, norm), `pgd.${norm}`, `PGD step (${norm})`);
  // The loss in training mode and its parameter gradients.
  m.train();
  const n = 4;
  const E = jem.energyFromLogits(m.forward(cat([xData, xQ])));
  const lpx = E.slice(0, 0, n).mean().sub(E.slice(0, n).mean());
  const ce = nn.F.crossEntropy(m.forward(xLab), yLab);
  const loss = ce.add(lpx);
  close(tensor([loss.item(), ce.item(), lpx.item()]), 'loss', 'L = CE + (mean E_data − mean E_sample)');
  const params = m.namedParameters();
  const grads = (await import('../ts/index.js')).grad(loss, params.map(([, p]) => p));
  let worst = 0;
  for (const [i, [name]] of params.entries()) {
    const want = ref.get(`lossgrad.${name}`)!.toFloat64Array();
    worst = Math.max(worst, maxAbsDiff(grads[i]!.toFloat64Array(), want) / Math.max(maxAbs(want), 1e-30));
  }
  t.ok(worst <= 1e-4, `all ${params.length} parameter gradients of L within 1e-4·max|ref| (worst ${worst.toExponential(2)})`);
});

t.test('SGLD chains: defaults, stepping, inspection, schedules, abort', async (t) => {
  const m = smallWrn();
  randomize(m, 6);
  const x0 = rand([3, 1, 16, 16], { generator: new Generator(1) }).mul(2).sub(1);
  const chain = new jem.SgldChain(m, x0, { generator: new Generator(9) });
  const energies: number[] = [];
  await chain.run(undefined, { onStep: (s) => energies.push(s.energy) });
  t.equal(chain.steps, 20, 'the official 20 steps by default');
  const direct = jem.sgld(m, x0, { generator: new Generator(9) });
  t.equal(maxAbsDiff(chain.x.toFloat32Array(), direct.toFloat32Array()), 0, 'chain.run() = sgld() with the official α = 1, σ = 0.01');
  t.ok(energies.at(-1)! < energies[0], `energy falls along the chain (${energies[0].toFixed(3)} → ${energies.at(-1)!.toFixed(3)})`);
  const noNoise = jem.sgld(m, x0, { steps: 1, noise: 0 });
  const { grad } = jem.energyGrad(m, x0);
  t.ok(maxAbsDiff(noNoise.toFloat32Array(), x0.sub(grad).toFloat32Array()) < 1e-6, 'σ = 0: x − ∂E/∂x by hand');
  const sched = jem.sgld(m, x0, { steps: 2, noise: 0, stepSchedule: (k) => (k === 0 ? 0 : 1) });
  t.ok(maxAbsDiff(sched.toFloat32Array(), x0.sub(grad).toFloat32Array()) < 1e-6, 'a step schedule scales α per step (0 then 1)');
  const clamped = jem.sgld(m, x0.mul(5), { steps: 1, clamp: [-1, 1] });
  t.ok(clamped.abs().max().item() <= 1, 'x clamping keeps the chain in the box');
  const ac = new AbortController();
  const c2 = new jem.SgldChain(m, x0);
  await t.rejects(c2.run(10, { signal: ac.signal, onStep: (s) => s.step === 3 && ac.abort() }), { name: 'AbortError' });
  t.equal(c2.steps, 3, 'stopped between steps, state inspectable');
  t.throws(() => jem.sgld(m, x0, { gradClamp: 0 }), /gradClamp must be > 0/);
  t.throws(() => jem.sgld(m, x0, { noise: -1 }), /noise/);
});

t.test('replay buffer: re-init frequency, write-back, class chunks, Gaussian init', async (t) => {
  const b0 = new jem.ReplayBuffer({ size: 100, shape: [1, 4, 4], reinitFreq: 0, generator: new Generator(1) });
  t.ok(b0.data.abs().max().item() <= 1 && b0.data.min().item() < -0.9, 'starts as U[−1, 1]');
  const s0 = b0.sample(8, { generator: new Generator(2) });
  t.equal(maxAbsDiff(s0.x.toFloat32Array(), b0.data.indexSelect(0, s0.indices).toFloat32Array()), 0, 'reinitFreq 0: chains start from stored samples');
  const b1 = new jem.ReplayBuffer({ size: 100, shape: [1, 4, 4], reinitFreq: 1 });
  const s1 = b1.sample(8, { generator: new Generator(2) });
  t.ok(maxAbsDiff(s1.x.toFloat32Array(), b1.data.indexSelect(0, s1.indices).toFloat32Array()) > 0.1, 'reinitFreq 1: all fresh');
  b0.update(s0.indices, s0.x.mul(0).add(7));
  t.ok(b0.data.indexSelect(0, s0.indices).eq(7).all().item(), 'every final sample is written back to its slot');
  t.equal(b0.data.eq(7).flatten(1).all(1).sum().item(), new Set(Array.from(s0.indices.toArray() as BigInt64Array)).size, 'and nothing else');
  const bc = new jem.ReplayBuffer({ size: 100, shape: [1, 4, 4], classes: 10 });
  const yc = randint(0, 10, [50], { generator: new Generator(3) });
  const sc = bc.sample(50, { y: yc, generator: new Generator(4) });
  const idx = sc.indices.toArray() as BigInt64Array;
  const ys = yc.toArray() as BigInt64Array;
  t.ok(idx.every((v: bigint, i: number) => v / 10n === ys[i]), 'class-conditional: index in the chunk of its label');
  t.throws(() => new jem.ReplayBuffer({ size: 25, shape: [1], classes: 10 }), /multiple of classes/);
  t.throws(() => new jem.ReplayBuffer({ size: 10, shape: [1], reinitFreq: 2 }), /reinitFreq/);
  const mean = cat([tensor([-0.5]).reshape([1, 1, 1, 1]).expand(1, 1, 4, 4), tensor([0.5]).reshape([1, 1, 1, 1]).expand(1, 1, 4, 4)]);
  const bg = new jem.ReplayBuffer({ size: 2000, shape: [1, 4, 4], classes: 2, init: { mean, std: mean.mul(0).add(0.1) }, generator: new Generator(5) });
  const firstHalf = bg.data.slice(0, 0, 1000).mean().item();
  const secondHalf = bg.data.slice(0, 1000).mean().item();
  t.ok(Math.abs(firstHalf + 0.5) < 0.01 && Math.abs(secondHalf - 0.5) < 0.01, `Gaussian init per class chunk: means ${firstHalf.toFixed(3)}, ${secondHalf.toFixed(3)}`);
});

t.test('trainer: records, validation, checkpoints carry the buffer, resume is exact, CE branch learns', async (t) => {
  const ds = digits(200, 1);
  const [trainSet, valid] = ds.split(40, new Generator(0));
  const opts = { train: trainSet, valid, batchSize: 16, lr: 1e-3, warmup: 2, bufferSize: 100, sgldSteps: 3, evalEvery: 4, checkpointEvery: 4, sampleEvery: 4, seed: 2 };
  const a = smallWrn();
  const recsA: jem.JemStepRecord[] = [];
  for await (const r of jem.trainJem(a, { ...opts, steps: 8, dir: join(dir, 'A') })) recsA.push(r);
  t.equal(recsA.length, 8);
  t.ok(['ce', 'lpx', 'eData', 'eSample', 'acc'].every((k) => Number.isFinite(recsA[7].terms[k])), 'terms: ce, lpx, eData, eSample, acc');
  t.ok(recsA[3].eval && recsA[3].eval.accuracy >= 0, 'validation accuracy on eval steps');
  t.ok(recsA[7].samples && existsSync(recsA[7].samples), 'buffer sample grid');
  t.ok(existsSync(join(dir, 'A', 'best.safetensors')), 'best checkpoint by validation accuracy');
  const ck = await io.readSafetensors(join(dir, 'A', 'latest.safetensors'));
  t.same(ck.tensors.get('extra.buffer')!.shape, [100, 1, 16, 16], 'the checkpoint holds the replay buffer');
  const b1 = smallWrn();
  for await (const r of jem.trainJem(b1, { ...opts, steps: 4, dir: join(dir, 'B') })) void r;
  const b2 = smallWrn();
  const recsB: jem.JemStepRecord[] = [];
  for await (const r of jem.trainJem(b2, { ...opts, steps: 8, dir: join(dir, 'B'), resume: true })) recsB.push(r);
  t.same(recsB.map((r) => r.loss), recsA.slice(4).map((r) => r.loss), 'resumed losses equal the uninterrupted run bit for bit');
  t.equal(maxAbsDiff(b2.class_output.weight.toFloat32Array(), a.class_output.weight.toFloat32Array()), 0, 'and so do the weights');
  const c = smallWrn(1);
  const ce: number[] = [];
  // The classifier branch learns (bars at class positions, so no flips or crops); with the p(x) term at
  // this lr JEM learns far slower — the known trade-off, not a plumbing test.
  for await (const r of jem.trainJem(c, { ...opts, steps: 40, evalEvery: 0, sampleEvery: 0, flip: false, cropPad: 0, pxWeight: 0 })) ce.push(r.terms.ce);
  const mean = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / xs.length;
  t.ok(mean(ce.slice(-10)) < 0.6 * mean(ce.slice(0, 5)), `cross-entropy falls: first 5 ${mean(ce.slice(0, 5)).toFixed(3)} → last 10 ${mean(ce.slice(-10)).toFixed(3)}`);
  // Mixed precision (bf16 forward/backward, float32 weights and Adam) follows the float32 run.
  const c16 = smallWrn(1);
  const ce16: number[] = [];
  for await (const r of jem.trainJem(c16, { ...opts, steps: 40, evalEvery: 0, sampleEvery: 0, flip: false, cropPad: 0, pxWeight: 0, computeDtype: 'bfloat16' })) ce16.push(r.terms.ce);
  const rel0 = Math.abs(ce16[0] - ce[0]) / ce[0];
  t.ok(rel0 > 0 && rel0 < 0.02, `bf16 step 1 CE ${ce16[0].toFixed(5)} vs ${ce[0].toFixed(5)} in float32 (bf16 ran, and is close)`);
  t.ok(Math.abs(mean(ce16.slice(-10)) - mean(ce.slice(-10))) < 0.25 * mean(ce.slice(0, 5)), `bf16 CE falls alike: last 10 ${mean(ce16.slice(-10)).toFixed(3)} vs ${mean(ce.slice(-10)).toFixed(3)}`);
  t.ok(c16.parameters().every((p) => p.dtype === 'float32'), 'the master weights stay float32');
  const full16: jem.JemStepRecord[] = [];
  for await (const r of jem.trainJem(smallWrn(2), { ...opts, steps: 3, evalEvery: 0, sampleEvery: 0, computeDtype: 'bfloat16', sgldComputeDtype: 'bfloat16', dir: join(dir, 'bf16') })) full16.push(r);
  t.ok(full16.every((r) => Number.isFinite(r.loss) && Number.isFinite(r.terms.lpx)), 'a whole JEM step in bf16 (SGLD and loss) runs');
  t.match(JSON.parse(readFileSync(join(dir, 'bf16', 'config.json'), 'utf8')), { computeDtype: 'bfloat16', sgldComputeDtype: 'bfloat16' }, 'config.json records both dtypes');
  await t.rejects(async () => {
    for await (const r of jem.trainJem(eagerView(smallWrn()), { ...opts, steps: 1, computeDtype: 'bfloat16' })) void r;
  }, /computeDtype 'bfloat16' needs a WideResNet/, 'bf16 needs the compiled WideResNet');
  t.same(jem.jemRecipe('wrn28-10').bufferSize, 10000, 'official buffer 10,000');
  t.same(jem.jemRecipe('wrn28-10').warmup, 1000, 'official warmup 1,000');
  t.equal(jem.jemRecipe('wrn10-2').bufferSize, 2000, 'CPU preset: smaller buffer');
});

t.test('divergence guard: a forced blow-up stops with a report, or rolls back with new seeds', async (t) => {
  const ds = digits(120, 2);
  const base = { train: ds, batchSize: 16, lr: 5, warmup: 0, bufferSize: 64, sgldSteps: 2, seed: 3, guard: { lossBound: 50 } };
  let caught: unknown;
  try {
    for await (const r of jem.trainJem(smallWrn(), { ...base, steps: 40 })) void r;
  } catch (e) {
    caught = e;
  }
  t.ok(caught instanceof T.TrainingDivergedError, 'lr 5: the guard throws TrainingDivergedError');
  const err = caught as T.TrainingDivergedError;
  t.match(err.message, /training diverged at step \d+/, `report: ${err.message.slice(0, 120)}`);
  t.ok(Number.isFinite(err.terms.maxAbsEnergy), 'the report carries the energies');
  const runDir = join(dir, 'guard');
  const rollbacks: jem.JemStepRecord[] = [];
  let stopped: unknown;
  try {
    for await (const r of jem.trainJem(smallWrn(), { ...base, steps: 40, dir: runDir, checkpointEvery: 2, guard: { lossBound: 50, action: 'rollback', maxRollbacks: 2 } })) if (r.rollback) rollbacks.push(r);
  } catch (e) {
    stopped = e;
  }
  t.equal(rollbacks.length, 2, 'rolled back twice');
  t.same(rollbacks.map((r) => r.rollback!.count), [1, 2]);
  t.not(rollbacks[0].rollback!.seed, rollbacks[1].rollback!.seed, 'each roll-back gets its own seed');
  t.ok(stopped instanceof T.TrainingDivergedError, 'then stops cleanly with the report');
  const events = readFileSync(join(runDir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.event);
  t.same(events.map((e) => `${e.event}${e.action ? ':' + e.action : ''}`), ['diverged:rollback', 'rollback', 'diverged:rollback', 'rollback', 'diverged:stop'], 'each event is logged');
  t.ok(events.filter((e) => e.event === 'rollback').every((e) => e.to <= e.divergedAt), 'roll-backs go to a checkpoint before the blow-up');
  await t.rejects(async () => {
    for await (const r of jem.trainJem(smallWrn(), { ...base, steps: 2, guard: { action: 'rollback' } })) void r;
  }, /needs a run folder/);
});

t.test('calibration and AUROC: hand-made cases (ties, conf = 1.0) and numpy/scipy', async (t) => {
  // Two bins: (0, 0.5] and (0.5, 1]; 0.5 goes to the first, 1.0 to the last.
  const c = jem.calibration([0.5, 1.0, 1.0, 0.75], [1, 1, 0, 1], 2);
  t.same(c.bins.map((b) => b.count), [1, 3], 'right-closed bins: 0.5 → first, 1.0 → last (counted, not dropped)');
  t.ok(Math.abs(c.ece - (0.25 * 0.5 + 0.75 * Math.abs(2 / 3 - 2.75 / 3))) < 1e-12, `ECE by hand ${c.ece.toFixed(6)}`);
  t.equal(c.accuracy, 0.75);
  t.equal(jem.calibration([0.9, 0.9], [1, 0], 20).ece, 0.4, 'one bin: |0.5 − 0.9|');
  t.throws(() => jem.calibration([1.2], [1]), /outside \[0, 1\]/);
  t.throws(() => jem.calibration([0.5], [1, 0]), /1 confidences but 2 outcomes/);
  t.equal(jem.auroc([3, 4], [1, 2]), 1, 'perfect separation');
  t.equal(jem.auroc([1, 2], [3, 4]), 0, 'reversed');
  t.equal(jem.auroc([1, 1], [1, 1]), 0.5, 'all tied: ½');
  t.equal(jem.auroc([2, 1], [1, 0]), (1 + 1 + 0.5 + 1) / 4, 'one tie counts ½');
  t.throws(() => jem.auroc([], [1]), /at least one/);
  if (why) return;
  const g = new Generator(3);
  const conf = rand([500], { generator: g }).mul(0.9).add(0.1).toFloat64Array().map((v, i) => (i % 17 === 0 ? 1 : Math.round(v * 40) / 40));
  const correct = Array.from(rand([500], { generator: g }).toFloat64Array(), (v, i) => (v < conf[i] ? 1 : 0));
  const pos = Array.from(randn([300], { generator: g }).toFloat64Array(), (v) => Math.round(v * 4) / 4 + 0.5);
  const neg = Array.from(randn([200], { generator: g }).toFloat64Array(), (v) => Math.round(v * 4) / 4);
  const r = spawnSync(PYTHON, ['bench/ref/jem.py', 'metrics'], { input: JSON.stringify({ conf: Array.from(conf), correct, bins: 20, pos, neg }), encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr.slice(-400));
  const ref = JSON.parse(r.stdout);
  t.ok(Math.abs(jem.calibration(conf, correct, 20).ece - ref.ece) < 1e-12, `ECE(20) = numpy's ${ref.ece.toFixed(6)} (quantised confidences on bin edges, conf = 1.0)`);
  t.ok(Math.abs(jem.auroc(pos, neg) - ref.auroc) < 1e-12, `AUROC = scipy rank statistic ${ref.auroc.toFixed(6)} (many ties)`);
});

t.test('OOD scores, OOD sets and PGD accuracy', async (t) => {
  const m = smallWrn(2);
  randomize(m, 8);
  const x = rand([6, 1, 16, 16], { generator: new Generator(1) }).mul(2).sub(1);
  const s = jem.oodScores(m, x);
  const E = jem.energy(m, x).toFloat64Array();
  t.ok(s.px.every((v, i) => Math.abs(v + E[i]) < 1e-6), 'px = −E(x)');
  t.ok(s.py.every((v) => v > 0.1 - 1e-6 && v <= 1), 'py = max softmax in [1/K, 1]');
  const g = jem.energyGrad(m, x).grad.flatten(1).norm(2, 1).toFloat64Array();
  t.ok(s.pxgrad.every((v, i) => Math.abs(v + g[i]) < 1e-6), 'pxgrad = −‖∂E/∂x‖');
  const sets = jem.oodSets(x, new Generator(2));
  t.same(Object.keys(sets).sort(), ['gaussian', 'interp', 'inverted', 'uniform', 'vflip']);
  t.ok(Math.abs(sets.interp.select(0, 1).sub(x.select(0, 1).add(x.select(0, 0)).mul(0.5)).abs().max().item()) < 1e-6, 'interp = (x_i + x_{i−1})/2');
  const ds = digits(40, 5);
  const clean = jem.pgdAccuracy(m, ds, { norm: 'linf', eps: [0], steps: 2 });
  const r = jem.pgdAccuracy(m, ds, { norm: 'linf', eps: [0, 0.05, 0.3], steps: 5, generator: new Generator(1) });
  t.equal(r.accuracy[0], clean.accuracy[0], 'ε = 0 is the clean accuracy');
  t.ok(r.accuracy[1] <= r.accuracy[0] && r.accuracy[2] <= r.accuracy[1], `accuracy falls with ε: ${r.accuracy.map((a) => a.toFixed(2)).join(' → ')}`);
  const l2 = jem.pgdAccuracy(m, ds, { norm: 'l2', eps: [0, 2], steps: 5, restarts: 2, generator: new Generator(1) });
  t.ok(l2.accuracy[1] <= l2.accuracy[0], 'L2 with restarts too');
  t.equal(maxAbsDiff(jem.defendedLogits(m, x, { sgldSteps: 0 }).toFloat32Array(), m.forward(x).toFloat32Array()), 0, 'JEM-0 is the plain classifier');
  const xi = x.detach().requiresGrad_();
  const dl = jem.defendedLogits(m, xi, { sgldSteps: 1, chains: 3, generator: new Generator(1) });
  t.same(dl.shape, [6, 10], 'JEM-1: logits averaged over 3 chains');
  const [gx] = (await import('../ts/index.js')).grad(dl.sum(), xi);
  t.ok(gx && gx.abs().sum().item() > 0, 'gradients pass through the refinement (BPDA)');
  const def = jem.pgdAccuracy(m, ds.take(8), { norm: 'linf', eps: [0, 0.1], steps: 2, defense: { sgldSteps: 1, chains: 2, generator: new Generator(2) } });
  t.equal(def.accuracy.length, 2, 'PGD against the defended classifier');
});

t.test('CLI: jem train → eval → sample, help, one-line errors', async (t) => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/cli/main.js', 'jem', ...args], { encoding: 'utf8' }); // built by npm test / prepare
  const help = cli('--help');
  t.equal(help.status, 0);
  for (const opt of ['--px-weight', '--guard', '--buffer', '--sgld-steps', '--metrics', '--ood', '--pgd-eps', '--rounds', '--class']) t.match(help.stdout, opt, `help lists ${opt}`);
  const bad = cli('eval', 'x.safetensors');
  t.equal(bad.status, 1);
  t.equal(bad.stderr.trim().split('\n').length, 1, 'a bad argument is one line');
  t.match(cli('train', '--out', join(dir, 'x'), '--steps', '1', '--preset', 'ddpmTiny').stderr, /must be a Wide-ResNet preset/);
  t.match(cli('train', '--out', join(dir, 'x'), '--steps', '1', '--guard', 'pray').stderr, /--guard must be one of stop, rollback/);
  const run = join(dir, 'cli');
  const tr = cli('train', '--out', run, '--steps', '2', '--batch', '8', '--valid', '100', '--sgld-steps', '2', '--buffer', '100', '--eval-every', '2', '--threads', '1', '--exclude-classes', '8,9', '--compute-dtype', 'bfloat16');
  t.equal(tr.status, 0, `train ran ${tr.stderr.slice(-300)}`);
  t.match(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')), { computeDtype: 'bfloat16', sgldComputeDtype: 'bfloat16' }, '--compute-dtype sets the chains and the loss');
  const ev = cli('eval', join(run, 'best.safetensors'), '--count', '64', '--ood', 'uniform,interp,heldout', '--pgd-count', '16', '--pgd-steps', '2', '--pgd-eps', '0,0.1', '--json');
  t.equal(ev.status, 0, `eval ran ${ev.stderr.slice(-300)}`);
  const report = JSON.parse(readFileSync(join(run, 'eval.json'), 'utf8'));
  t.ok(report.accuracy >= 0 && report.ece['20'] >= 0 && report.ece['15'] >= 0, 'accuracy and ECE (20 and 15 bins)');
  t.same(Object.keys(report.ood), ['uniform', 'interp', 'heldout'], 'the OOD sets asked for, incl. the classes the run held out');
  t.ok(['px', 'py', 'pxgrad'].every((k) => report.ood.uniform[k] >= 0 && report.ood.uniform[k] <= 1), 'three AUROCs per set');
  t.same(report.pgd.eps, [0, 0.1]);
  t.ok(existsSync(join(run, 'reliability.png')) && existsSync(join(run, 'pgd.png')), 'reliability diagram and PGD curve');
  const sm = cli('sample', join(run, 'latest.safetensors'), '--count', '4', '--rounds', '1', '--sgld-steps', '2', '--out', join(run, 's.png'));
  t.equal(sm.status, 0, `sample ran ${sm.stderr.slice(-300)}`);
  const png = data.decodePng(readFileSync(join(run, 's.png')));
  t.same([png.width, png.height], [2 * 64 + 3 * 2, 2 * 64 + 3 * 2], '2×2 grid of 32-px samples at 2×');
});

t.test('held-out classes', async (t) => {
  const ds = digits(50, 9);
  const inside = ds.byClasses([8, 9], false);
  const out = ds.byClasses([8, 9]);
  t.equal(inside.size + out.size, 50);
  t.ok((out.labels.toArray() as BigInt64Array).every((c) => c >= 8n), 'only the held-out classes');
  t.ok((inside.labels.toArray() as BigInt64Array).every((c) => c < 8n), 'and the rest');
  t.throws(() => ds.byClasses([42]), /no images in classes 42/);
});

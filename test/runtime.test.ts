// Robustness of the native boundary: fuzzing, flat memory over long loops, async jobs
// (progress ordering, cancellation, busy tensors, worker threads), and worker_threads loading.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Generator, buildInfo, full, gaussianLangevin, getCudaOptions, nn, ones, randn, resolveDevice, setCudaOptions, setNumThreads, synchronize, tidy, zeros, memory, type Progress } from '../ts/index.js';

const addon = fileURLToPath(new URL('../build/Release/langevin.node', import.meta.url));

t.test('fuzz: 10,000+ malformed calls on the binding surface exit normally', async (t) => {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('./lib/fuzz-child.mjs', import.meta.url)), addon, '20000'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.signal, null, `no signal (${r.signal})`);
  t.equal(r.status, 0, `exit status 0 (stderr: ${r.stderr.slice(-500)})`);
  const s = JSON.parse(r.stdout);
  t.ok(s.calls >= 10_000, `${s.calls} calls`);
  t.equal(s.nonError, 0, 'everything thrown is an Error');
  t.ok(s.byName.TypeError > 0 && s.byName.RangeError > 0 && s.byName.Error > 0, `all three error classes seen: ${JSON.stringify(s.byName)}`);
  t.ok(s.returned > 0, `${s.returned} calls were valid and returned`);
});

t.test('memory: 10,000 forward+backward iterations keep RSS flat', async (t) => {
  const g = new Generator(0);
  const w = randn([64, 64], { generator: g }).mul(0.1).requiresGrad_();
  const b = zeros([64]).requiresGrad_();
  const base = memory().tensors;
  let rss1000 = 0;
  for (let i = 1; i <= 10_000; i++) {
    tidy(() => {
      const x = randn([16, 64], { generator: g });
      const y = nn.F.linear(x, w, b).tanh();
      const loss = nn.F.mseLoss(y, x);
      loss.backward();
      w.zeroGrad();
      b.zeroGrad();
    });
    if (i === 1000) rss1000 = process.memoryUsage().rss;
  }
  const grown = (process.memoryUsage().rss - rss1000) / (1 << 20);
  t.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB between iteration 1,000 and 10,000`);
  t.equal(memory().tensors, base, 'no tensor leaked');
});

t.test('async jobs', async (t) => {
  t.test('progress arrives in order and before the Promise settles', async (t) => {
    const x = zeros([256], { dtype: 'float64' });
    const seen: Progress[] = [];
    let settled = false;
    const p = gaussianLangevin(x, { steps: 200, stepSize: 0.1, noise: Math.sqrt(0.2), generator: new Generator(1), onProgress: (q) => { t.notOk(settled, 'not yet settled'); seen.push(q); } });
    p.then(() => (settled = true));
    await p;
    t.same(seen.map((q) => q.step), Array.from({ length: 200 }, (_, i) => i + 1), 'every step reported once, in order');
    t.equal(seen.at(-1)!.total, 200);
    t.type(seen[0].energy, 'number');
  });

  t.test('the chain reaches its analytic stationary law, deterministically', async (t) => {
    const run = async () => {
      const x = full([20000], 3, { dtype: 'float64' });
      await gaussianLangevin(x, { mean: 1, std: 2, stepSize: 0.4, noise: 0.5, steps: 300, generator: new Generator(5), progressEvery: 100 });
      return x;
    };
    const x = await run();
    const rho = 1 - 0.4 / 4;
    const wantVar = 0.25 / (1 - rho * rho);
    t.ok(Math.abs(x.mean().item() - 1) < 0.02, `mean ${x.mean().item().toFixed(4)} ≈ 1`);
    t.ok(Math.abs(x.var().item() / wantVar - 1) < 0.05, `var ${x.var().item().toFixed(4)} ≈ ${wantVar.toFixed(4)}`);
    const y = await run();
    t.same(y.toArray(), x.toArray(), 'same seed, identical chain');
  });

  t.test('busy tensors cannot be used, mutated or disposed from JS', async (t) => {
    const x = zeros([1000]);
    const p = gaussianLangevin(x, { steps: 2000, generator: new Generator(2) });
    t.throws(() => x.add(1), { code: 'ERR_BUSY' });
    t.throws(() => x.dispose(), { code: 'ERR_BUSY' });
    t.throws(() => x.fill_(0), { code: 'ERR_BUSY' });
    await t.rejects(gaussianLangevin(x, { steps: 1 }), { code: 'ERR_BUSY' }, 'a second job on the same tensor');
    await p;
    t.equal(x.add(1).numel, 1000, 'usable after the job');
    x.dispose();
    t.equal(x.isDisposed, true);
  });

  t.test('AbortSignal cancels between steps and unlocks', async (t) => {
    const x = zeros([1000]);
    const ac = new AbortController();
    let last = 0;
    const p = gaussianLangevin(x, { steps: 1_000_000, generator: new Generator(3), signal: ac.signal, onProgress: (q) => { last = q.step; if (q.step === 10) ac.abort(); } });
    await t.rejects(p, { name: 'AbortError', code: 'ABORT_ERR' });
    t.ok(last >= 10 && last < 1_000_000, `stopped after step ${last}`);
    x.dispose();
    t.equal(x.isDisposed, true, 'unlocked after abort');
    await t.rejects(gaussianLangevin(zeros([2]), { signal: AbortSignal.abort() }), { name: 'AbortError' }, 'an aborted signal never starts');
  });

  t.test('a throwing progress callback rejects the job', async (t) => {
    await t.rejects(gaussianLangevin(zeros([10]), { steps: 100, onProgress: () => { throw new Error('from callback'); } }), /from callback/);
  });

  t.test('thread count is honoured on worker threads', async (t) => {
    for (const n of [2, 1]) {
      setNumThreads(n);
      let threads = 0;
      await gaussianLangevin(zeros([10]), { steps: 1, onProgress: (q) => (threads = q.threads) });
      t.equal(threads, n, `job ran with ${n} thread(s)`);
    }
  });

  t.test('bad options are errors, not crashes', async (t) => {
    await t.rejects(gaussianLangevin(zeros([2]), { std: 0 }), RangeError);
    await t.rejects(gaussianLangevin(zeros([2], { dtype: 'int64' })), TypeError);
    await t.rejects(gaussianLangevin(ones([2]).requiresGrad_()), { code: 'ERR_REQUIRES_GRAD' });
    await t.rejects(gaussianLangevin(zeros([2]), { progressEvery: 0 }), RangeError);
  });
});

t.test('the addon loads inside a worker_thread', async (t) => {
  const src = `
    const { parentPort } = require('node:worker_threads');
    const n = require(${JSON.stringify(addon)});
    const a = n.full([2, 2], 3);
    parentPort.postMessage(Array.from(n.toArray(n.matmul(a, a))));`;
  const w = new Worker(src, { eval: true });
  const msg = await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
  t.same(msg, [18, 18, 18, 18]);
  await w.terminate();
});

t.test('CUDA settings, synchronize and device auto (flags only on a CPU build)', (t) => {
  const before = getCudaOptions();
  setCudaOptions({ benchmark: true, tf32: false });
  t.same(getCudaOptions(), { benchmark: true, tf32: false }, 'settings read back');
  setCudaOptions({ tf32: true });
  t.same(getCudaOptions(), { benchmark: true, tf32: true }, 'an absent key is left alone');
  setCudaOptions(before);
  t.throws(() => setCudaOptions({ benchmark: 'yes' as never }), TypeError);
  t.doesNotThrow(() => synchronize(), 'synchronize is a no-op without CUDA');
  t.equal(resolveDevice('auto'), buildInfo().cudaAvailable ? 'cuda' : 'cpu', 'auto follows the build');
  t.equal(resolveDevice('cuda:1'), 'cuda:1');
  t.equal(resolveDevice(undefined), 'cpu');
  t.end();
});

t.test('the GPU session smoke tests (bench/gpu/smoke.test.mjs) pass here on the CPU, so they cannot rot before a GPU session', (t) => {
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', 'bench/gpu/smoke.test.mjs'], { encoding: 'utf8' });
  if (r.status !== 0) t.comment(r.stdout.slice(-2000) + r.stderr.slice(-2000));
  t.equal(r.status, 0, 'node --test exits 0');
  t.match(r.stdout, /# pass 8/);
  t.match(r.stdout, /# fail 0/);
  t.end();
});

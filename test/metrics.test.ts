// Sample-quality metrics: feature statistics, the Fréchet distance, KID and the Inception Score
// against numpy/scipy (bench/ref/metrics.py) on the same fixed inputs, hand-derived cases, the
// .npz interop with numpy, and the errors on bad input.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Generator, Tensor, cat, data, io, metrics, nn, randint, randn, randperm, stack, tensor } from '../ts/index.js';
import { maxAbsDiff, referenceUnavailable, runReferenceArgs } from './lib/reference.js';

const dir = mkdtempSync(join(tmpdir(), 'langevin-metrics-'));
const skip = referenceUnavailable();

/** n correlated features from law `law` (its mixing matrix) with a large offset (tests the shifted accumulation). */
function features(n: number, d: number, seed: number, offset: number, law = seed): Tensor {
  const mix = randn([d, d], { generator: new Generator(1000 + law), dtype: 'float64' }).div(Math.sqrt(d));
  return randn([n, d], { generator: new Generator(seed), dtype: 'float64' }).matmul(mix).add(offset).float();
}

function momentsOf(f: Tensor, batch = 97): metrics.FeatureMoments {
  const s = new metrics.FeatureStats();
  for (let i = 0; i < f.shape[0]; i += batch) s.add(f.slice(0, i, Math.min(i + batch, f.shape[0])));
  const m = s.moments();
  s.dispose();
  return m;
}

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

t.test('FD, KID and IS equal numpy/scipy on fixed features', { skip }, async (t) => {
  const cases = [
    { name: 'n > d', n1: 600, n2: 450, d: 48 },
    { name: 'rank-deficient (n < d)', n1: 40, n2: 35, d: 64 },
  ];
  for (const c of cases) {
    const f1 = features(c.n1, c.d, 1, 5);
    const f2 = features(c.n2, c.d, 2, 5.3);
    const logits = randn([230, 1008], { generator: new Generator(3) }).mul(3);
    const m = Math.min(c.n1, c.n2, 30);
    const g = new Generator(4);
    const kid1 = stack([0, 1, 2, 3, 4].map(() => randperm(c.n1, { generator: g }).slice(0, 0, m)));
    const kid2 = stack([0, 1, 2, 3, 4].map(() => randperm(c.n2, { generator: g }).slice(0, 0, m)));
    const input = join(dir, `in-${c.d}.npz`);
    await io.writeNpz(input, { f1, f2, logits, kid1, kid2 });
    const ref = runReferenceArgs<{ mu1: number[]; sigma1_trace: number; fd: number; kid_values: number[]; kid_mean: number; kid_std: number; is_mean: number; is_std: number; is_splits: number[] }>(
      'bench/ref/metrics.py', ['reference', input, dir]);

    const a = momentsOf(f1);
    const b = momentsOf(f2, 1000);
    t.ok(maxAbsDiff(a.mu.toArray() as Float64Array, ref.mu1) <= 1e-12 * 5, `${c.name}: streamed mean = numpy's`);
    const fd = metrics.frechetDistance(a, b);
    t.ok(rel(fd, ref.fd) <= 1e-6, `${c.name}: FD ${fd} vs scipy ${ref.fd} (rel ${rel(fd, ref.fd).toExponential(2)})`);

    const kid = metrics.kernelInceptionDistance(f1, f2, { indices: [0, 1, 2, 3, 4].map((i) => [kid1.select(0, i), kid2.select(0, i)] as [Tensor, Tensor]) });
    t.ok(maxAbsDiff(kid.values, ref.kid_values) <= 1e-6 * Math.max(...ref.kid_values.map(Math.abs)), `${c.name}: KID per subset`);
    t.ok(Math.abs(kid.mean - ref.kid_mean) <= 1e-6 * Math.abs(ref.kid_mean) + 1e-12 && Math.abs(kid.std - ref.kid_std) <= 1e-6 * ref.kid_std + 1e-12, `${c.name}: KID mean ${kid.mean} ± ${kid.std} vs ${ref.kid_mean} ± ${ref.kid_std}`);

    const is = metrics.inceptionScore(logits);
    t.ok(rel(is.mean, ref.is_mean) <= 1e-6 && rel(is.std, ref.is_std) <= 1e-6, `IS ${is.mean} ± ${is.std} vs ${ref.is_mean} ± ${ref.is_std}`);
    t.ok(maxAbsDiff(is.splits, ref.is_splits) <= 1e-6 * ref.is_mean, 'IS per split');

    // numpy's own files: np.savez (stored) and np.savez_compressed (deflate, float32 sigma)
    for (const file of ['stats-plain.npz', 'stats-compressed.npz']) {
      const loaded = await metrics.loadMoments(join(dir, file));
      t.ok(maxAbsDiff(loaded.mu.toArray() as Float64Array, ref.mu1) === 0, `${file}: mu read exactly`);
      const sigmaDiff = maxAbsDiff(loaded.sigma.toArray() as Float64Array, a.sigma.toArray() as Float64Array) / (a.sigma.abs().max().item() as number);
      t.ok(sigmaDiff <= (file.includes('compressed') ? 1e-7 : 1e-12), `${file}: sigma read (float32 in the compressed one; rel ${sigmaDiff.toExponential(2)})`);
      t.ok(Number.isNaN(loaded.count), `${file}: no count in pytorch-fid files`);
      metrics.disposeMoments(loaded);
    }
  }
});

t.test('FD by hand: diagonal covariances give ‖Δμ‖² + Σ(√a − √b)²; FD(P, P) = 0', async (t) => {
  const d = 5;
  const mu1 = tensor(Float64Array.from([0, 1, 2, 3, 4]));
  const mu2 = tensor(Float64Array.from([1, 1, 0, 3, 4.5]));
  const va = [1, 4, 9, 0.25, 2];
  const vb = [4, 1, 9, 1, 0.5];
  const diag = (v: number[]): Tensor => {
    const a = new Float64Array(d * d);
    v.forEach((x, i) => (a[i * d + i] = x));
    return tensor(a).reshape([d, d]);
  };
  const expected = 1 + 0 + 4 + 0 + 0.25 + va.reduce((s, x, i) => s + (Math.sqrt(x) - Math.sqrt(vb[i])) ** 2, 0);
  const fd = metrics.frechetDistance({ mu: mu1, sigma: diag(va), count: 10 }, { mu: mu2, sigma: diag(vb), count: 10 });
  t.ok(Math.abs(fd - expected) < 1e-12, `FD ${fd} = ${expected}`);
  const f = features(300, 16, 7, 1);
  const m = momentsOf(f);
  t.ok(Math.abs(metrics.frechetDistance(m, m)) < 1e-9, 'FD(P, P) = 0');
  const deficient = momentsOf(features(60, 128, 7, 1)); // rank 59 of 128: a null space of 69
  t.ok(Math.abs(metrics.frechetDistance(deficient, deficient)) < 1e-9, `FD(P, P) = 0 for a rank-deficient covariance (${metrics.frechetDistance(deficient, deficient)})`);
  const shifted = momentsOf(f.double().add(2)); // in float64: a float32 shift would round the data
  t.ok(Math.abs(metrics.frechetDistance(m, shifted) - 4 * 16) < 1e-9, 'a shift by 2 in 16 dims gives 64');
});

t.test('KID: own subsets draw without replacement and are seeded; IS of uniform logits is 1, of one-hot distinct classes is k', async (t) => {
  const f1 = features(200, 8, 1, 0);
  const f2 = features(150, 8, 2, 0.5);
  const a = metrics.kernelInceptionDistance(f1, f2, { subsets: 10, seed: 3 });
  const b = metrics.kernelInceptionDistance(f1, f2, { subsets: 10, seed: 3 });
  t.same(a.values, b.values, 'same seed, same subsets');
  t.equal(a.subsetSize, 150, 'default subset size = min(n1, n2, 1000)');
  t.ok(a.mean > 0, `shifted distributions give KID > 0 (${a.mean})`);
  const same = metrics.kernelInceptionDistance(f1, features(200, 8, 9, 0, 1), { subsets: 10 });
  t.ok(Math.abs(same.mean) < a.mean / 5, `two samples of one law give KID ≈ 0 (${same.mean})`);
  t.equal(metrics.inceptionScore(tensor(new Float32Array(40 * 7)).reshape([40, 7]), { splits: 4 }).mean, 1, 'uniform p(y|x): IS 1');
  const extreme = tensor(Float32Array.from([0, 2000, 0, 2000, 0, 0, 0, 2000, 0, 2000, 0, 0])).reshape([4, 3]); // class 2: p = 0 everywhere
  t.ok(Math.abs(metrics.inceptionScore(extreme, { splits: 1 }).mean - 2) < 1e-12, 'a class with p = 0 everywhere adds 0 (IS 2 of 2 used classes), not NaN');
  const onehot = new Float32Array(40 * 4);
  for (let i = 0; i < 40; i++) onehot[i * 4 + (i % 4)] = 50; // p(y|x) ≈ one-hot, p(y) uniform
  const is = metrics.inceptionScore(tensor(onehot).reshape([40, 4]), { splits: 2 });
  t.ok(Math.abs(is.mean - 4) < 1e-6 && is.std < 1e-9, `confident, balanced: IS = 4 (${is.mean})`);
});

t.test('statistics: save/load round trip (safetensors with count and meta, npz), errors on bad input', async (t) => {
  const f = features(50, 6, 1, 2);
  const m = momentsOf(f);
  const st = join(dir, 'stats.safetensors');
  await metrics.saveMoments(st, { ...m, meta: { network: 'test' } });
  const back = await metrics.loadMoments(st);
  t.equal(back.count, 50);
  t.same(back.meta, { network: 'test' });
  t.equal(maxAbsDiff(back.sigma.toArray() as Float64Array, m.sigma.toArray() as Float64Array), 0, 'sigma round trip');
  const npz = join(dir, 'stats.npz');
  await metrics.saveMoments(npz, m);
  const back2 = await metrics.loadMoments(npz);
  t.equal(maxAbsDiff(back2.mu.toArray() as Float64Array, m.mu.toArray() as Float64Array), 0, 'npz round trip');

  const s = new metrics.FeatureStats();
  t.throws(() => s.moments(), /at least 2/, 'no samples yet');
  s.add(f);
  t.throws(() => s.add(features(4, 5, 1, 0)), /5 dimensions, earlier batches 6/);
  t.throws(() => s.add(tensor(Float32Array.from([NaN, 0, 0, 0, 0, 0])).reshape([1, 6])), /NaN or Inf/);
  t.throws(() => s.add(f.reshape([300])), /\[n, d\]/);
  s.dispose();
  const bad = { mu: m.mu, sigma: m.sigma.neg(), count: 2 };
  t.throws(() => metrics.frechetDistance(m, bad), /not positive semi-definite/, 'a negative-definite "covariance" is an error');
  t.throws(() => metrics.frechetDistance(m, momentsOf(features(20, 4, 1, 0))), /6 and 4 dimensions/);
  t.throws(() => metrics.kernelInceptionDistance(f, features(10, 6, 1, 0), { subsetSize: 20 }), /subsetSize must be an integer in \[2, 10\]/);
  t.throws(() => metrics.inceptionScore(randn([5, 3]), { splits: 10 }), /splits must be an integer in \[1, 5\]/);

  const onlyMu = join(dir, 'only-mu.npz');
  await io.writeNpz(onlyMu, { mu: m.mu });
  await t.rejects(metrics.loadMoments(onlyMu), /needs arrays "mu" and "sigma", found mu/);
  const truncated = join(dir, 'truncated.npz');
  writeFileSync(truncated, readFileSync(npz).subarray(0, 200));
  await t.rejects(metrics.loadMoments(truncated), { name: 'NpyError' });
  const flipped = readFileSync(npz);
  flipped[150] ^= 0xff; // inside mu's data: the CRC catches it
  writeFileSync(truncated, flipped);
  await t.rejects(metrics.loadMoments(truncated), /CRC/);
});

t.test('feature network: features + head = logits; streamed extraction = one-shot statistics; uint8 = float input', async (t) => {
  const net = await metrics.openFeatureNetwork();
  t.equal(net.metric, 'FD-FMNIST', 'the shipped network passes its digest check');
  const ds = await data.openDataset('fashion-mnist', 'test');
  const u8 = ds.images.slice(0, 0, 37).clone();
  const x = u8.float().div(127.5).sub(1);
  const f = net.model.features(x);
  t.same(f.shape, [37, 128], 'penultimate features are 128-d');
  t.ok(maxAbsDiff(net.model.class_output.forward(f).toFloat32Array(), net.model.forward(x).toFloat32Array()) <= 1e-5, 'head(features) = forward');
  const ex = await metrics.extractFeatures(net, metrics.tensorImages(u8, 10), { keepFeatures: true, keepLogits: true });
  t.equal(ex.count, 37);
  t.ok(maxAbsDiff(ex.features!.toFloat32Array(), f.toFloat32Array()) <= 1e-5, 'batched uint8 features = one float batch');
  const one = new metrics.FeatureStats();
  one.add(f);
  const m = one.moments();
  const dSigma = maxAbsDiff(ex.moments.sigma.toArray() as Float64Array, m.sigma.toArray() as Float64Array) / (m.sigma.abs().max().item() as number);
  t.ok(dSigma <= 1e-6, `streamed covariance = one-shot (rel ${dSigma.toExponential(2)}; the features differ by float32 rounding)`);
  t.ok(maxAbsDiff(ex.logits!.toFloat32Array(), net.model.forward(x).toFloat32Array()) <= 1e-5, 'kept logits');
  await t.rejects(metrics.extractFeatures(net, [randn([2, 3, 32, 32])]), /\[B, 1, 32, 32\]/, 'wrong image shape');
  ds.dispose();
  net.model.dispose();

  const copy = join(dir, 'custom.safetensors');
  const bytes = readFileSync(metrics.fmnistFeatureNetPath());
  writeFileSync(copy, bytes);
  const custom = await metrics.openFeatureNetwork(copy);
  t.equal(custom.metric, 'FD-FMNIST', 'an identical copy is still the FD-FMNIST network');
  custom.model.dispose();
  bytes[bytes.length - 1] ^= 1;
  writeFileSync(copy, bytes);
  const changed = await metrics.openFeatureNetwork(copy);
  t.equal(changed.metric, 'FD-custom', 'other weights are never called FD-FMNIST');
  changed.model.dispose();
  await t.rejects(metrics.openFeatureNetwork(join(dir, 'missing.safetensors')), /cannot be read/);
});

t.test('CLI: metrics stats / fd / kid / is on saved samples, with the data floor; bad options are one line', async (t) => {
  const ds = await data.openDataset('fashion-mnist', 'test');
  const samples = join(dir, 'samples.safetensors');
  await io.writeSafetensors(samples, { samples: ds.images.slice(0, 0, 60) });
  ds.dispose();
  const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/cli/main.js', 'metrics', ...args, '--threads', '1'], { encoding: 'utf8' });
  const stats = join(dir, 'samples-stats.safetensors');
  t.equal(cli('stats', samples, '--out', stats).status, 0, 'stats');
  const same = cli('fd', stats, samples, '--json');
  t.equal(same.status, 0, same.stderr);
  t.ok(Math.abs(JSON.parse(same.stdout).value) < 1e-8, `FD(saved stats of X, X) = 0 (${JSON.parse(same.stdout).value})`);
  const fd = cli('fd', samples, 'fashion-mnist@test', '--count', '60', '--json');
  t.equal(fd.status, 0, fd.stderr);
  const r = JSON.parse(fd.stdout);
  t.equal(r.metric, 'FD-FMNIST');
  t.same(r.n, [60, 60]);
  t.ok(r.floor && r.floor.value > 0 && r.value >= 0, `score ${r.value} and floor ${r.floor?.value}`);
  const kid = cli('kid', samples, 'fashion-mnist@test', '--count', '60', '--subsets', '5');
  t.equal(kid.status, 0, kid.stderr);
  t.match(kid.stdout, /^KID-FMNIST -?\d+\.\d+ ± \d+\.\d+ .*\ndata floor: /);
  const is = cli('is', samples, '--splits', '2');
  t.equal(is.status, 0, is.stderr);
  t.match(is.stdout, /^IS-FMNIST \d\.\d{3} ± \d\.\d{3} \(60 images.*\ndata: /);
  const bad = cli('fd', samples);
  t.equal(bad.status, 1);
  t.match(bad.stderr.trim(), /^langevin: metrics fd: give two sources/);
  t.equal(bad.stderr.trim().split('\n').length, 1, 'one line');
  t.match(cli('kid', stats, samples).stderr, /holds statistics; this score needs images/);
  t.match(cli('fd', samples, 'fashion-mnist@valid').stderr, /must be train or test/);
});

t.test('FID Inception-v3 = torchvision Inception3 with the pytorch-fid changes (random weights), key names and loader errors', { skip }, async (t) => {
  const input = join(dir, 'inception-in.npz');
  const u8 = randint(0, 256, [2, 1, 28, 28], { generator: new Generator(1) }).to('uint8');
  const f = randn([2, 3, 40, 40], { generator: new Generator(2) }).clamp(-1, 1);
  await io.writeNpz(input, { gray: u8, rgb: f });
  const weights = join(dir, 'inception.safetensors');
  const out = join(dir, 'inception-out.npz');
  runReferenceArgs<unknown>('bench/ref/inception.py', ['reference', input, weights, out]);
  const ref = await io.readNpz(out);
  const net = await nn.loadFidInception(weights);
  for (const [name, x] of [['gray', u8], ['rgb', f]] as const) {
    const o = net.outputs(x);
    for (const [key, got] of [['pool', o.pool], ['logits', o.logitsUnbiased]] as const) {
      const want = ref.get(`${name}_${key}`)!;
      t.same(got.shape, want.shape, `${name} ${key} shape`);
      const scale = want.abs().max().item() as number;
      const d = maxAbsDiff(got.toFloat32Array(), want.toFloat32Array());
      t.ok(d <= 1e-4 * scale, `${name} ${key}: max|Δ| ${d.toExponential(2)} ≤ 1e-4·max|ref| (${scale.toExponential(2)})`);
    }
  }
  // As a feature network: the streamed extraction, and the CLI's FID (the same images on both sides: 0).
  const inet = await metrics.openInceptionNetwork(weights);
  t.equal(inet.metric, 'FID');
  const ex = await metrics.extractFeatures(inet, [u8.clone()], { keepFeatures: true, keepLogits: true });
  t.ok(maxAbsDiff(ex.features!.toFloat32Array(), ref.get('gray_pool')!.toFloat32Array()) <= 1e-4 * (ref.get('gray_pool')!.abs().max().item() as number), 'extractFeatures(pool3) = reference');
  t.ok(maxAbsDiff(ex.logits!.toFloat32Array(), ref.get('gray_logits')!.toFloat32Array()) <= 1e-4 * (ref.get('gray_logits')!.abs().max().item() as number), 'extractFeatures(logits) = reference');
  inet.dispose();
  const four = join(dir, 'four.safetensors');
  await io.writeSafetensors(four, { samples: cat([u8, u8.flip([3])]) });
  const fid = spawnSync(process.execPath, ['dist/cli/main.js', 'metrics', 'fd', four, four, '--inception', weights, '--json', '--threads', '1'], { encoding: 'utf8' });
  t.equal(fid.status, 0, fid.stderr);
  const fr = JSON.parse(fid.stdout);
  t.ok(fr.metric === 'FID' && Math.abs(fr.value) < 1e-6 * (fr.value + 1), `the CLI prints FID with --inception (${fr.value} for identical sets)`);
  const isr = spawnSync(process.execPath, ['dist/cli/main.js', 'metrics', 'is', four, '--inception', weights, '--splits', '2', '--threads', '1'], { encoding: 'utf8' });
  t.match(isr.stdout, /^IS \d+\.\d{3} ± \d+\.\d{3} \(4 images/, 'IS with the Inception logits');
  // Exports without num_batches_tracked load too; other missing keys are listed.
  const sd = new Map([...net.stateDict()].filter(([k]) => !k.endsWith('num_batches_tracked')));
  const trimmed = join(dir, 'inception-trimmed.safetensors');
  await io.writeSafetensors(trimmed, sd);
  (await nn.loadFidInception(trimmed)).dispose();
  sd.delete('Mixed_7c.branch_pool.conv.weight');
  await io.writeSafetensors(trimmed, sd);
  await t.rejects(nn.loadFidInception(trimmed), /Mixed_7c\.branch_pool\.conv\.weight/);
  await t.rejects(nn.loadFidInception(join(dir, 'nope.safetensors')), /not found .*pt_inception-2015-12-05-6726825d\.pth/);
  await t.rejects(nn.loadFidInception(join(dir, 'pt_inception-2015-12-05-6726825d.pth')), /convert it to safetensors first/);
  t.throws(() => nn.FidInceptionV3.prepare(randn([1, 2, 8, 8])), /\[N, 1 or 3, H, W\]/);
  net.train();
  t.equal(net.training, false, 'train() keeps the feature extractor in evaluation mode');
  t.equal(maxAbsDiff(net.outputs(u8).pool.toFloat32Array(), ref.get('gray_pool')!.toFloat32Array()), 0, 'and its batch norms on their running statistics');
  net.dispose();
});

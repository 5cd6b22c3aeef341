// Training infrastructure: data readers (real Fashion-MNIST, synthetic MNIST, malformed files),
// batches and augmentation, optimizers/clipping/warmup/EMA against PyTorch, checkpoints, the
// deterministic resume, abort-writes-a-checkpoint, and divergence reports.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Generator, Tensor, data, nn, noGrad, setDeterministic, setNumThreads, tensor, train, pad } from '../ts/index.js';
import { maxAbs, maxAbsDiff, referenceUnavailable, rng, runReference } from './lib/reference.js';

const dir = mkdtempSync(join(tmpdir(), 'langevin-train-'));

function idx(dims: number[], bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(bytes)]);
}

function syntheticMnist(root: string, n: number, gz: boolean): Uint8Array {
  const px = new Uint8Array(n * 28 * 28).map((_, i) => (i * 37) % 256);
  const labels = new Uint8Array(n).map((_, i) => i % 10);
  const w = (name: string, b: Buffer) => writeFileSync(join(root, gz ? `${name}.gz` : name), gz ? gzipSync(b) : b);
  w('train-images-idx3-ubyte', idx([n, 28, 28], px));
  w('train-labels-idx1-ubyte', idx([n], labels));
  return px;
}

t.test('Fashion-MNIST from Debian\'s package', { skip: existsSync(data.FASHION_MNIST_DIR) ? false : 'dataset-fashion-mnist not installed' }, async (t) => {
  const test = await data.fashionMnist({ split: 'test' });
  t.same(test.images.shape, [10000, 1, 32, 32], '10,000 test images padded to 32×32');
  t.equal(test.images.dtype, 'uint8');
  const counts = test.labels.toFloat64Array().reduce((c, v) => (c[v]++, c), new Array(10).fill(0));
  t.same(counts, new Array(10).fill(1000), '1,000 per class');
  const border = test.images.slice(2, 0, 2).sum().item() + test.images.slice(3, 30, 32).sum().item();
  t.equal(border, 0, 'the 2-pixel padding is black');
  const first = test.images.select(0, 0).toFloat64Array();
  t.ok(maxAbs(first) === 255 || maxAbs(first) > 100, 'real pixel data');
  test.dispose();
});

t.test('MNIST-format readers on synthetic files (raw and gzipped) and malformed ones', async (t) => {
  for (const gz of [false, true]) {
    const root = mkdtempSync(join(dir, 'mnist-'));
    const px = syntheticMnist(root, 20, gz);
    const ds = await data.mnistFolder(root, { pad32: false });
    t.same(ds.images.shape, [20, 1, 28, 28], `${gz ? 'gzipped' : 'raw'} images`);
    t.same(Array.from(ds.images.toArray() as Uint8Array).slice(0, 50), Array.from(px.slice(0, 50)), 'pixels in order');
    t.same(Array.from(ds.labels.toFloat64Array()).slice(0, 12), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1], 'labels');
    ds.dispose();
  }
  const bad = mkdtempSync(join(dir, 'bad-'));
  const cases: [string, Buffer, RegExp][] = [
    ['bad magic', Buffer.from([1, 2, 3, 4, 0, 0, 0, 0]), /bad magic number/],
    ['truncated', idx([5, 28, 28], new Uint8Array(100)), /header says 5×28×28 = 3920 bytes of data but the file holds 100/],
    ['wrong type', Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), /not unsigned byte/],
    ['corrupt gzip', Buffer.from([0x1f, 0x8b, 1, 2, 3]), /corrupt gzip/],
  ];
  for (const [name, bytes, re] of cases) {
    const p = join(bad, name.replace(/ /g, '-'));
    writeFileSync(p, bytes);
    await t.rejects(data.readIdx(p), { name: 'DataFormatError', message: re }, name);
    await t.rejects(data.readIdx(p), { message: new RegExp(p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) }, `${name}: the error names the file`);
  }
  const mismatch = mkdtempSync(join(dir, 'mm-'));
  writeFileSync(join(mismatch, 'train-images-idx3-ubyte'), idx([3, 28, 28], new Uint8Array(3 * 784)));
  writeFileSync(join(mismatch, 'train-labels-idx1-ubyte'), idx([4], new Uint8Array(4)));
  await t.rejects(data.mnistFolder(mismatch), /4 labels for 3 images/);
  await t.rejects(data.mnistFolder(join(dir, 'nowhere')), /not found/);
});

t.test('CIFAR-10 binary batches and PNG folders (synthetic files in the real formats)', async (t) => {
  const root = mkdtempSync(join(dir, 'cifar-'));
  const rec = (label: number, v: number) => Buffer.concat([Buffer.from([label]), Buffer.alloc(1024, v), Buffer.alloc(1024, v + 1), Buffer.alloc(1024, v + 2)]);
  writeFileSync(join(root, 'test_batch.bin'), Buffer.concat([rec(3, 10), rec(9, 200)]));
  const c = await data.cifar10(root, { split: 'test' });
  t.same(c.images.shape, [2, 3, 32, 32]);
  t.same(Array.from(c.labels.toFloat64Array()), [3, 9]);
  t.same(Array.from(c.images.select(0, 1).amax([1, 2]).toFloat64Array()), [200, 201, 202], 'R, G, B planes in order');
  writeFileSync(join(root, 'test_batch.bin'), Buffer.concat([rec(3, 10)]).subarray(0, 3000));
  await t.rejects(data.cifar10(root, { split: 'test' }), { name: 'DataFormatError', message: /test_batch.bin: 3000 bytes is not a whole number of 3073-byte records/ });
  writeFileSync(join(root, 'test_batch.bin'), rec(12, 0));
  await t.rejects(data.cifar10(root, { split: 'test' }), /label 12/);
  await t.rejects(data.cifar10(root), /data_batch_1.bin: not found/);
  const pngs = mkdtempSync(join(dir, 'png-'));
  for (const [cls, v] of [['cats', 20], ['dogs', 220]] as const) {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(pngs, cls));
    for (let i = 0; i < 2; i++) writeFileSync(join(pngs, cls, `${i}.png`), data.encodePng(new Uint8Array(4 * 4 * 3).fill(v + i), 4, 4, 3));
  }
  const f = await data.imageFolder(pngs);
  t.same(f.classes, ['cats', 'dogs']);
  t.same(f.images.shape, [4, 3, 4, 4]);
  t.same(Array.from(f.labels.toFloat64Array()), [0, 0, 1, 1]);
  t.same(Array.from(f.images.amax([1, 2, 3]).toFloat64Array()), [20, 21, 220, 221], 'pixel values');
  const grey = await data.imageFolder(pngs, { channels: 1 });
  t.same(grey.images.shape, [4, 1, 4, 4], 'grey conversion');
  writeFileSync(join(pngs, 'dogs', 'bad.png'), Buffer.from('not a png'));
  await t.rejects(data.imageFolder(pngs), { message: /bad.png: not a readable PNG/ });
  writeFileSync(join(pngs, 'dogs', 'bad.png'), data.encodePng(new Uint8Array(5 * 5 * 3), 5, 5, 3));
  await t.rejects(data.imageFolder(pngs), /bad.png: is 5×5 but the first image is 4×4/);
});

t.test('batches: scaling, seeded order, splits, augmentation', async (t) => {
  const px = new Uint8Array(10 * 4 * 4).map((_, i) => (i * 17) % 256);
  px[0] = 0;
  px[1] = 255;
  const ds = data.ImageDataset.fromBytes(px, [10, 1, 4, 4], new Uint8Array(10).map((_, i) => i));
  const [b] = [...ds.batches({ batchSize: 10, shuffle: false })];
  const x = b.x.toFloat64Array();
  t.equal(x[0], -1, '0 → −1');
  t.equal(x[1], 1, '255 → 1');
  t.ok(Math.abs(x[2] - ((34 / 127.5) - 1)) < 1e-6, 'linear in between');
  const order = (seed: number) => [...ds.batches({ batchSize: 3, generator: new Generator(seed) })].flatMap((bb) => Array.from(bb.y.toFloat64Array()));
  t.same(order(1), order(1), 'same seed, same order');
  t.notSame(order(1), order(2), 'other seed, other order');
  t.same([...order(1)].sort((a, c) => a - c), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'a pass covers every example once');
  t.equal([...ds.batches({ batchSize: 4, dropLast: true })].length, 2, 'dropLast');
  const [tr, va] = ds.split(3, new Generator(0));
  t.equal(tr.size + va.size, 10);
  const seen = new Set([...tr.labels.toFloat64Array(), ...va.labels.toFloat64Array()]);
  t.equal(seen.size, 10, 'train and valid are disjoint and cover everything');
  // flips: each image is either itself or its mirror
  const flipped = ds.augmentBatch(b.x, { flip: true }, new Generator(3));
  let mirrors = 0;
  for (let i = 0; i < 10; i++) {
    const a = flipped.select(0, i).toFloat64Array();
    const same = maxAbsDiff(a, b.x.select(0, i).toFloat64Array()) === 0;
    const mirror = maxAbsDiff(a, b.x.select(0, i).flip(2).toFloat64Array()) === 0;
    t.ok(same || mirror, `image ${i} is itself or mirrored`);
    if (mirror && !same) mirrors++;
  }
  t.ok(mirrors > 0 && mirrors < 10, `${mirrors} of 10 mirrored`);
  // crops: each output is a 4×4 window of the reflect-padded image
  const cropped = ds.augmentBatch(b.x, { cropPad: 2 }, new Generator(4));
  const padded = pad(b.x, [2, 2, 2, 2], 'reflect');
  let ok = 0;
  for (let i = 0; i < 10; i++) {
    const c = cropped.select(0, i).toFloat64Array();
    let found = false;
    for (let dy = 0; dy <= 4 && !found; dy++) for (let dx = 0; dx <= 4 && !found; dx++) found = maxAbsDiff(padded.select(0, i).narrow(1, dy, 4).narrow(2, dx, 4).toFloat64Array(), c) === 0;
    if (found) ok++;
  }
  t.equal(ok, 10, 'every crop is a window of the reflect-padded image');
  const noisy = ds.augmentBatch(b.x, { noise: 0.5 }, new Generator(5));
  const d = noisy.sub(b.x);
  t.ok(Math.abs(d.std().item() - 0.5) < 0.15, `noise σ ≈ 0.5 (${d.std().item().toFixed(3)})`);
  ds.dispose();
});

interface OptCase {
  name: string;
  optimizer: 'adam' | 'adamw' | 'sgd';
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  dampening?: number;
  clip?: number;
  warmup?: number;
  emaDecay?: number;
  emaWarmup?: boolean;
}

const why = referenceUnavailable();
t.test('optimizers, clipping, warmup and EMA equal PyTorch on fixed tensors', { skip: !process.env.CI && why ? why : false }, async (t) => {
  if (why) throw new Error(`PyTorch reference unavailable: ${why}`);
  const r = rng(42);
  const shapes = [[3, 4], [4], [2, 2, 3]];
  const rand = (n: number, s = 1) => Array.from({ length: n }, () => (r() * 2 - 1) * s);
  const params = shapes.map((s) => rand(s.reduce((a, b) => a * b, 1)));
  const steps = 6;
  const grads = Array.from({ length: steps }, () => shapes.map((s) => rand(s.reduce((a, b) => a * b, 1), 3)));
  const cases: OptCase[] = [
    { name: 'Adam', optimizer: 'adam', lr: 0.01 },
    { name: 'Adam + L2 weight decay + clip + warmup + EMA', optimizer: 'adam', lr: 0.05, weightDecay: 0.1, clip: 1, warmup: 3, emaDecay: 0.9 },
    { name: 'AdamW', optimizer: 'adamw', lr: 0.01, weightDecay: 0.05 },
    { name: 'SGD plain', optimizer: 'sgd', lr: 0.1 },
    { name: 'SGD momentum + dampening + weight decay', optimizer: 'sgd', lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3 },
    { name: 'SGD Nesterov + clip + EMA warmup', optimizer: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, clip: 0.5, emaDecay: 0.999, emaWarmup: true },
  ];
  const refs = runReference<{ params: number[][][]; norms: number[]; ema: number[][][] }[]>('bench/ref/optim.py', cases.map((c) => ({ ...c, params, grads })));
  for (const [ci, c] of cases.entries()) {
    const ref = refs[ci];
    // a tiny Module holding the three parameters, for the EMA
    class Holder extends nn.Module {
      constructor() {
        super();
        params.forEach((p, i) => this.param(`p${i}`, tensor(Float32Array.from(p), shapes[i])));
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const m = new Holder();
    const ps = m.parameters();
    const opt = c.optimizer === 'sgd' ? new train.SGD(ps, { lr: c.lr, momentum: c.momentum, nesterov: c.nesterov, weightDecay: c.weightDecay, dampening: c.dampening })
      : c.optimizer === 'adam' ? new train.Adam(ps, { lr: c.lr, weightDecay: c.weightDecay }) : new train.AdamW(ps, { lr: c.lr, weightDecay: c.weightDecay });
    const schedule = train.linearWarmup(c.lr, c.warmup ?? 0);
    const ema = c.emaDecay !== undefined ? new train.EMA(m, { decay: c.emaDecay, warmup: c.emaWarmup }) : undefined;
    let worst = 0;
    let worstEma = 0;
    for (let s = 0; s < steps; s++) {
      ps.forEach((p, i) => (p.grad = tensor(Float32Array.from(grads[s][i]), shapes[i])));
      if (c.clip) {
        const norm = train.clipGradNorm(ps, c.clip);
        t.ok(Math.abs(norm - ref.norms[s]) <= 1e-5 * ref.norms[s], `step ${s + 1}: grad norm ${norm.toFixed(5)} = ${ref.norms[s].toFixed(5)}`);
      }
      opt.lr = schedule(s);
      opt.step();
      ema?.update();
      ps.forEach((p, i) => (worst = Math.max(worst, maxAbsDiff(p.toFloat64Array(), ref.params[s][i]) / Math.max(1e-3, maxAbs(ref.params[s][i])))));
      if (ema) [...ema.shadow.values()].forEach((sh, i) => (worstEma = Math.max(worstEma, maxAbsDiff(sh.toFloat64Array(), ref.ema[s][i]))));
    }
    t.ok(worst <= 1e-6, `${c.name}: parameters over ${steps} steps within 1e-6 relative (worst ${worst.toExponential(2)})`);
    if (ema) t.ok(worstEma <= 1e-6, `${c.name}: EMA shadows within 1e-6 (worst ${worstEma.toExponential(2)})`);
    const sd = opt.stateDict();
    t.equal(sd.meta.step, steps, 'optimizer state counts steps');
    opt.dispose();
    ema?.dispose();
    m.dispose();
  }
});

function tinyWrn(): nn.WideResNet {
  return nn.wideResNet({ depth: 10, widen: 1, inChannels: 1, resolution: 32, generator: new Generator(7) });
}

async function run(dirName: string, steps: number, opts: { resume?: boolean; signal?: AbortSignal; abortAt?: number; ac?: AbortController; nativeStep?: boolean; clipNorm?: number } = {}): Promise<number[]> {
  const px = new Uint8Array(128 * 32 * 32).map((_, i) => (i * 7919) % 256);
  const ds = data.ImageDataset.fromBytes(px, [128, 1, 32, 32], new Uint8Array(128).map((_, i) => (i * 3) % 10));
  const model = tinyWrn();
  const losses: number[] = [];
  for await (const rec of train.trainClassifier(model, { train: ds, steps, batchSize: 16, lr: 1e-3, warmup: 2, seed: 3, dir: join(dir, dirName), resume: opts.resume, checkpointEvery: 2, signal: opts.signal, augment: { flip: true, cropPad: 2, noise: 0.03 }, nativeStep: opts.nativeStep, clipNorm: opts.clipNorm })) {
    losses.push(rec.loss);
    if (opts.abortAt && rec.step === opts.abortAt) opts.ac!.abort();
  }
  model.dispose();
  ds.dispose();
  return losses;
}

t.test('deterministic resume: interrupted-and-resumed equals uninterrupted, bit for bit', async (t) => {
  setNumThreads(1);
  setDeterministic(true);
  const full = await run('straight', 8);
  const ac = new AbortController();
  const first = await run('resumed', 8, { signal: ac.signal, abortAt: 3, ac });
  t.equal(first.length, 3, 'stopped after step 3');
  const info = JSON.parse(readFileSync(join(dir, 'resumed', 'log.jsonl'), 'utf8').trim().split('\n').at(-1)!);
  t.equal(info.event, 'abort', 'the log records the abort');
  t.ok(existsSync(join(dir, 'resumed', 'latest.safetensors')), 'abort wrote a checkpoint');
  const rest = await run('resumed', 8, { resume: true });
  t.equal(rest.length, 5, 'resumed at step 4');
  t.same([...first, ...rest], full, 'identical losses');
  t.ok(full.every(Number.isFinite));
  setDeterministic(false);
});

t.test('a training step as one native job equals the TypeScript step, bit for bit', async (t) => {
  setNumThreads(1);
  setDeterministic(true);
  const viaJob = await run('native-step', 5, { nativeStep: true, clipNorm: 1 });
  const viaTs = await run('ts-step', 5, { nativeStep: false, clipNorm: 1 });
  t.equal(viaJob.length, 5);
  t.same(viaJob, viaTs, `identical losses (${viaJob.map((l) => l.toFixed(4)).join(', ')})`);
  t.ok(viaJob[4] !== viaJob[0], 'the model is learning (losses change)');
  setDeterministic(false);
});

t.test('checkpoints: round trip and clear errors for corrupted files', async (t) => {
  const model = tinyWrn();
  const opt = new train.Adam(model.parameters(), { lr: 1e-3 });
  const ema = new train.EMA(model, { decay: 0.9 });
  const g = new Generator(5);
  g.manualSeed(9);
  const p = join(dir, 'ck.safetensors');
  await train.saveCheckpoint(p, { model, optimizer: opt, ema, generators: { data: g } }, { step: 12, config: { a: 1 }, values: { best: 0.5 } });
  const expect = g.getState();
  const model2 = tinyWrn();
  noGrad(() => model2.parameters().forEach((q) => q.zero_()));
  const opt2 = new train.Adam(model2.parameters(), { lr: 1 });
  const ema2 = new train.EMA(model2, { decay: 0.9 });
  const g2 = new Generator(0);
  const info = await train.loadCheckpoint(p, { model: model2, optimizer: opt2, ema: ema2, generators: { data: g2 } });
  t.equal(info.step, 12);
  t.same(info.config, { a: 1 });
  t.same(info.values, { best: 0.5 });
  t.equal(opt2.lr, 1e-3, 'optimizer settings restored');
  t.same(g2.getState(), expect, 'random stream restored');
  t.equal(maxAbsDiff(model2.parameters()[0].toFloat64Array(), model.parameters()[0].toFloat64Array()), 0, 'weights restored');
  const bytes = readFileSync(p);
  writeFileSync(join(dir, 'trunc.safetensors'), bytes.subarray(0, bytes.length - 100));
  await t.rejects(train.loadCheckpoint(join(dir, 'trunc.safetensors'), { model: model2 }), { code: 'ERR_SAFETENSORS', message: /trunc.safetensors/ }, 'truncated checkpoint');
  await model.saveWeights(join(dir, 'plain.safetensors'));
  await t.rejects(train.loadCheckpoint(join(dir, 'plain.safetensors'), { model: model2 }), { code: 'ERR_CHECKPOINT', message: /not a langevin checkpoint/ }, 'weights file is not a checkpoint');
  const other = nn.wideResNet({ depth: 10, widen: 2, inChannels: 1 });
  await t.rejects(train.loadCheckpoint(p, { model: other }), { code: 'ERR_CHECKPOINT', message: /model: .*shape mismatches/ }, 'wrong architecture');
  for (const x of [model, model2, other]) x.dispose();
  opt.dispose(); opt2.dispose(); ema.dispose(); ema2.dispose();
});

t.test('a non-finite loss stops with a report naming the step', async (t) => {
  let n = 0;
  const loop = train.trainLoop({ steps: 10, dir: join(dir, 'nan'), step: () => ({ loss: ++n === 4 ? NaN : 1 / n, lr: 0.1 }) });
  const seen: number[] = [];
  await t.rejects((async () => { for await (const r of loop) seen.push(r.step); })(), { name: 'TrainingDivergedError', code: 'ERR_DIVERGED', message: /diverged at step 4: loss is NaN/ });
  t.same(seen, [1, 2, 3]);
  t.match(readFileSync(join(dir, 'nan', 'log.jsonl'), 'utf8'), /"event":"diverged"/);
});

t.test('pictures: PNG grids from tensors and line plots', async (t) => {
  // three 1×2×2 images: black, white, mid-grey; grid of 2 columns, padding 1 (white)
  const imgs = tensor(new Float32Array([-1, -1, -1, -1, 1, 1, 1, 1, 0, 0, 0, 0]), [3, 1, 2, 2]);
  const png = data.pngGrid(imgs, { nrow: 2, padding: 1 });
  const dec = data.decodePng(png);
  t.same([dec.width, dec.height], [2 * 3 + 1, 2 * 3 + 1], 'grid size (cols·(w+p)+p)');
  const at = (x: number, y: number) => dec.data[(y * dec.width + x) * 4];
  t.equal(at(0, 0), 255, 'padding is white');
  t.equal(at(1, 1), 0, 'image 0 black (−1 → 0)');
  t.equal(at(4, 1), 255, 'image 1 white (1 → 255)');
  t.equal(at(1, 4), 128, 'image 2 mid grey (0 → 127.5, rounded)');
  t.equal(at(4, 4), 255, 'the empty cell is padding');
  const rgb = data.pngGrid(tensor(new Uint8Array(2 * 3 * 4 * 4).fill(7), [2, 3, 4, 4], { dtype: 'uint8' }));
  t.equal(data.decodePng(rgb).data[0], 255, 'uint8 RGB grids work');
  t.throws(() => data.pngGrid(tensor([1, 2, 3, 4], [1, 2, 2])), RangeError);
  const plot = train.linePlot([{ name: 'loss', x: [0, 1, 2, 3], y: [2, 1, 0.5, 0.4] }, { name: 'valid', x: [0, 3], y: [2.2, 0.6], points: true }], { title: 'Loss', xLabel: 'step', yLabel: 'loss' });
  const p = data.decodePng(plot);
  t.same([p.width, p.height], [800, 500]);
  let blue = 0;
  for (let i = 0; i < p.data.length; i += 4) if (p.data[i] === 31 && p.data[i + 1] === 119 && p.data[i + 2] === 180) blue++;
  t.ok(blue > 200, `the first series is drawn (${blue} px)`);
  t.same(train.niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.same(train.niceTicks(0, 4000), [0, 1000, 2000, 3000, 4000]);
});

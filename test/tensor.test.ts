// The tensor layer: creation, dtypes and devices, hand-derived op values, autograd semantics,
// scopes and memory counters, generators, build info, and the error contract.
import t from 'tap';
import {
  Generator, Tensor, arange, bernoulli, buildInfo, cat, dispose, eigh, empty, eye, full, getAllocationLimit, getNumThreads,
  grad, keep, linspace, manualSeed, memory, noGrad, ones, rand, randint, randn, randperm, setAllocationLimit, setNumThreads,
  stack, tensor, tidy, zeros, isGradEnabled, nn, normal_, uniform_, pad,
} from '../ts/index.js';

const F = nn.F;
/** Elements as a plain array (numbers, or bigints for int64). */
const values = (x: Tensor): (number | bigint)[] => Array.from(x.toArray() as Iterable<number | bigint>);
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]) <= tol);

t.test('creation and data round trips', async (t) => {
  const a = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  t.same(a.shape, [2, 3]);
  t.equal(a.dtype, 'float32');
  t.equal(a.device, 'cpu');
  t.equal(a.numel, 6);
  t.same(Array.from(a.toArray() as Float32Array), [1, 2, 3, 4, 5, 6]);
  t.same(a.toList(), [[1, 2, 3], [4, 5, 6]]);
  t.same(tensor([[1, 2], [3, 4]]).toList(), [[1, 2], [3, 4]], 'nested arrays');
  t.equal(tensor(3.5).item(), 3.5, 'scalar tensor');
  t.same(tensor(new BigInt64Array([1n, -2n])).toArray(), new BigInt64Array([1n, -2n]), 'int64 via BigInt64Array');
  t.same(values(tensor(new Int32Array([7, -8]))), [7, -8], 'int32');
  t.same(values(tensor(new Uint8Array([0, 1, 1]), [3], { dtype: 'bool' })), [0, 1, 1], 'bool');
  t.equal(tensor(new Uint8Array([0, 1]), [2], { dtype: 'bool' }).dtype, 'bool');
  t.same(zeros([2, 2]).toList(), [[0, 0], [0, 0]]);
  t.same(ones([3], { dtype: 'float64' }).toArray(), new Float64Array([1, 1, 1]));
  t.same(full([2], 7, { dtype: 'int64' }).toArray(), new BigInt64Array([7n, 7n]));
  t.same(empty([4, 0]).shape, [4, 0], 'empty with a zero dim');
  t.same(values(arange(5)), [0n, 1n, 2n, 3n, 4n].map(Number).map(BigInt), 'arange(n) is int64');
  t.same(Array.from(arange(0, 1, 0.25).toArray() as Float32Array), [0, 0.25, 0.5, 0.75]);
  t.same(Array.from(linspace(-1, 1, 5).toArray() as Float32Array), [-1, -0.5, 0, 0.5, 1]);
  t.same(eye(2).toList(), [[1, 0], [0, 1]]);
  // a typed array view with an offset is read from its offset
  const big = new Float32Array([9, 9, 1, 2, 3]);
  t.same(Array.from(tensor(big.subarray(2), [3]).toArray() as Float32Array), [1, 2, 3], 'subarray offset respected');
});

t.test('dtypes: conversion, bfloat16/float16 storage', async (t) => {
  const x = tensor(new Float32Array([1.5, -2.25, 3.0078125]));
  const bf = x.to('bfloat16');
  t.equal(bf.dtype, 'bfloat16');
  t.same(Array.from(bf.toFloat32Array()), [1.5, -2.25, 3], 'bf16 rounds 3.0078125 to 3 (8 mantissa bits)');
  t.equal((bf.toArray() as Uint16Array)[0], 0x3fc0, 'bf16 raw bits of 1.5');
  const h = x.to('float16');
  t.equal(h.dtype, 'float16');
  t.same(Array.from(h.toFloat32Array()), [1.5, -2.25, 3.0078125], 'f16 keeps 3.0078125 (10 mantissa bits)');
  t.equal((h.toArray() as Uint16Array)[0], 0x3e00, 'f16 raw bits of 1.5');
  const back = tensor(new Uint16Array([0x3fc0, 0xc010]), [2], { dtype: 'bfloat16' });
  t.same(Array.from(back.toFloat32Array()), [1.5, -2.25], 'bf16 from raw bits');
  t.same(values(x.to('int64')), [1n, -2n, 3n], 'float → int64 truncates');
  t.equal(x.double().dtype, 'float64');
  t.same(values(x.gt(0)), [1, 0, 1], 'comparisons give bool');
  t.equal(x.gt(0).dtype, 'bool');
  t.throws(() => tensor(new Uint16Array([1]), [1]), TypeError, 'Uint16Array needs a half dtype');
  t.throws(() => x.to('complex64' as any), RangeError, 'unknown dtype');
});

t.test('devices: CUDA requests fail clearly without CUDA', async (t) => {
  const info = buildInfo();
  if (info.cudaAvailable) {
    t.equal(zeros([2], { device: 'cuda' }).device, 'cuda:0');
    return;
  }
  t.throws(() => zeros([2], { device: 'cuda' }), { code: 'ERR_NO_CUDA', message: /CUDA/ });
  t.throws(() => tensor([1]).to('cuda'), { code: 'ERR_NO_CUDA' });
  t.throws(() => zeros([2], { device: 'tpu' as any }), RangeError);
});

t.test('hand-derived values', async (t) => {
  const a = tensor([[1, 2], [3, 4]]);
  t.same(a.matmul(a).toList(), [[7, 10], [15, 22]], 'matmul');
  t.same(a.sum().item(), 10);
  t.same(a.sum(0).toList(), [4, 6]);
  t.same(a.mean(1, { keepdim: true }).toList(), [[1.5], [3.5]]);
  t.ok(Math.abs(a.var().item() - 5 / 3) < 1e-6, 'unbiased var of 1..4 is 5/3');
  t.ok(Math.abs(a.var(undefined, { correction: 0 }).item() - 1.25) < 1e-6, 'biased var is 1.25');
  t.ok(Math.abs(tensor([0, 0]).logsumexp().item() - Math.log(2)) < 1e-6, 'logsumexp [0,0] = log 2');
  t.equal(a.max().item(), 4);
  const m = a.max(1);
  t.same(m.values.toList(), [2, 4]);
  t.same(values(m.indices), [1n, 1n]);
  t.same(values(a.argmax()), [3n], 'argmax over all is a flat index');
  const s = tensor([3, 1, 2]).sort();
  t.same(s.values.toList(), [1, 2, 3]);
  t.same(values(s.indices), [1n, 2n, 0n]);
  const tk = tensor([5, 9, 1, 7]).topk(2);
  t.same(tk.values.toList(), [9, 7]);
  t.same(a.add(tensor([10, 20])).toList(), [[11, 22], [13, 24]], 'broadcast add');
  t.same(a.clamp(2, 3).toList(), [[2, 2], [3, 3]]);
  t.same(a.reshape(4).toList(), [1, 2, 3, 4]);
  t.same(a.t().toList(), [[1, 3], [2, 4]]);
  t.same(a.flip(1).toList(), [[2, 1], [4, 3]]);
  t.same(a.slice(1, 1).toList(), [[2], [4]]);
  t.same(a.select(0, -1).toList(), [3, 4]);
  t.same(cat([a, a], 0).shape, [4, 2]);
  t.same(stack([a, a], 2).shape, [2, 2, 2]);
  t.same(a.unsqueeze(0).shape, [1, 2, 2]);
  t.same(a.unsqueeze(-1).squeeze(-1).shape, [2, 2]);
  t.same(a.gather(1, tensor(new BigInt64Array([1n, 0n]), [2, 1])).toList(), [[2], [3]]);
  t.same(a.indexSelect(0, tensor(new BigInt64Array([1n, 1n]))).toList(), [[3, 4], [3, 4]]);
  t.same(a.indexPut([tensor(new BigInt64Array([0n]))], tensor([[0, 0]])).toList(), [[0, 0], [3, 4]]);
  t.same(a.split(1, 1).map((x) => x.toList()), [[[1], [3]], [[2], [4]]]);
  t.same(pad(tensor([[[1, 2, 3]]]), [2, 1], 'reflect').toList(), [[[3, 2, 1, 2, 3, 2]]], 'reflect pad');
  t.same(tensor([[1, 0], [0, 2]]).pow(2).toList(), [[1, 0], [0, 4]]);
  const { eigenvalues } = eigh(tensor([[2, 1], [1, 2]], undefined, { dtype: 'float64' }));
  t.ok(close(eigenvalues.toFloat64Array(), [1, 3], 1e-12), 'eigh of [[2,1],[1,2]] is {1, 3}');
  // conv2d of ones with a ones 3×3 kernel, padding 1: corner 4, edge 6, centre 9
  const y = F.conv2d(ones([1, 1, 3, 3]), ones([1, 1, 3, 3]), null, { padding: 1 });
  t.same(y.toList(), [[[[4, 6, 4], [6, 9, 6], [4, 6, 4]]]]);
  t.same(F.upsampleNearest(tensor([[[[1, 2]]]])).toList(), [[[[1, 1, 2, 2], [1, 1, 2, 2]]]]);
  const emb = F.timestepEmbedding(tensor(new BigInt64Array([0n])), 4);
  t.same(emb.toList(), [[0, 0, 1, 1]], 'embedding at t=0 is [sin 0, sin 0, cos 0, cos 0]');
  t.ok(Math.abs(F.crossEntropy(zeros([1, 4]), tensor(new BigInt64Array([2n]))).item() - Math.log(4)) < 1e-6, 'CE of uniform logits is log C');
  t.equal(a.toString(), 'Tensor(float32, [2, 2], cpu)');
});

t.test('autograd: backward, .grad, grad() leaves parameter grads alone', async (t) => {
  const w = tensor([1, 2, 3]).requiresGrad_();
  const x = tensor([4, 5, 6]).requiresGrad_();
  const y = w.mul(x).sum();
  y.backward(undefined, { retainGraph: true });
  t.same(w.grad!.toList(), [4, 5, 6], 'd(w·x)/dw = x');
  t.same(x.grad!.toList(), [1, 2, 3]);
  y.backward();
  t.same(w.grad!.toList(), [8, 10, 12], 'gradients accumulate');
  w.zeroGrad();
  t.equal(w.grad, undefined, 'zeroGrad clears');
  const z = w.mul(x).square().sum();
  const [gx] = grad(z, x);
  t.same(gx!.toList(), [2 * 1 * 4 * 1, 2 * 2 * 5 * 2, 2 * 3 * 6 * 3], 'd/dx (w x)² = 2 w² x');
  t.equal(w.grad, undefined, 'grad() did not write w.grad');
  t.same(x.grad!.toList(), [2, 4, 6], 'nor x.grad (two backward passes so far)');
  // second order: d²/dx² of x³ = 6x
  const u = tensor([2]).requiresGrad_();
  const [d1] = grad(u.pow(3).sum(), u, { createGraph: true });
  const [d2] = grad(d1!.sum(), u);
  t.same(d2!.toList(), [12], 'double backward');
  t.throws(() => tensor([1, 2]).sum().backward(), { code: 'ERR_NO_GRAD' });
  t.throws(() => w.mul(2).backward(), RangeError, 'non-scalar backward needs a gradient');
  t.throws(() => tensor(new BigInt64Array([1n])).requiresGrad_(), TypeError, 'int tensors cannot require grad');
  const r = noGrad(() => {
    t.equal(isGradEnabled(), false);
    return w.mul(2);
  });
  t.equal(r.requiresGrad, false, 'noGrad results do not require grad');
  t.equal(isGradEnabled(), true, 'grad mode restored');
  t.equal(w.mul(2).detach().requiresGrad, false);
});

t.test('batchNorm running stats and seeded dropout', async (t) => {
  const x = tensor([[1, 2], [3, 6]]);
  const rm = zeros([2]);
  const rv = ones([2]);
  F.batchNorm(x, { runningMean: rm, runningVar: rv, training: true, momentum: 0.5 });
  t.same(rm.toList(), [1, 2], 'running mean ← 0.5·0 + 0.5·[2, 4]');
  t.same(rv.toList(), [1.5, 4.5], 'running var uses the unbiased batch var [2, 8]');
  const g1 = new Generator(42);
  const g2 = new Generator(42);
  const d1 = F.dropout(ones([1000]), 0.25, { generator: g1 });
  const d2 = F.dropout(ones([1000]), 0.25, { generator: g2 });
  t.same(d1.toArray(), d2.toArray(), 'same seed, same mask');
  const kept = (d1.toArray() as Float32Array).filter((v) => v !== 0);
  t.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6), 'kept values scaled by 1/(1-p)');
  t.ok(Math.abs(kept.length / 1000 - 0.75) < 0.05, `keep rate ${kept.length / 1000} ≈ 0.75`);
});

t.test('generators: seeded, independent, state round trip', async (t) => {
  const a = randn([5], { generator: new Generator(7) }).toArray();
  const b = randn([5], { generator: new Generator(7) }).toArray();
  const c = randn([5], { generator: new Generator(8) }).toArray();
  t.same(a, b, 'same seed, same draws');
  t.notSame(a, c, 'other seed, other draws');
  const g = new Generator(3);
  const state = g.getState();
  const first = rand([4], { generator: g }).toArray();
  g.setState(state);
  t.same(rand([4], { generator: g }).toArray(), first, 'restored state repeats the draws');
  manualSeed(11);
  const d1 = randn([3]).toArray();
  manualSeed(11);
  t.same(randn([3]).toArray(), d1, 'default generator reseeds');
  const ints = randint(2, 5, [1000], { generator: g }).toArray() as BigInt64Array;
  t.ok(ints.every((v) => v >= 2n && v < 5n), 'randint in [low, high)');
  const perm = Array.from(randperm(10, { generator: g }).toArray() as BigInt64Array).map(Number).sort((x, y) => x - y);
  t.same(perm, [...Array(10).keys()], 'randperm is a permutation');
  const bern = bernoulli(0.3, { shape: [4000], generator: g }).mean().item();
  t.ok(Math.abs(bern - 0.3) < 0.03, `bernoulli mean ${bern} ≈ 0.3`);
  const n = normal_(zeros([20000], { dtype: 'float64' }), 2, 0.5, g);
  t.ok(Math.abs(n.mean().item() - 2) < 0.02 && Math.abs(n.std().item() - 0.5) < 0.02, 'normal_ moments');
  const u = uniform_(zeros([1000]), -1, 1, g);
  t.ok(u.amin().item() >= -1 && u.amax().item() < 1, 'uniform_ range');
  t.throws(() => new Generator(-1), RangeError);
  t.throws(() => g.setState(new Uint8Array(3)), Error, 'bad state size');
});

t.test('memory: tidy, keep, using, dispose and counters', async (t) => {
  const base = memory().tensors;
  const kept = tidy(() => {
    const a = ones([100]);
    const b = a.mul(2);
    a.add(b);
    return b;
  });
  t.equal(memory().tensors, base + 1, 'tidy freed all but the result');
  t.equal(memory().bytes >= 400, true);
  kept.dispose();
  t.equal(memory().tensors, base, 'dispose frees');
  kept.dispose();
  t.pass('dispose is idempotent');
  t.throws(() => kept.add(1), { code: 'ERR_DISPOSED' }, 'use after dispose throws');
  const { x, y } = tidy(() => ({ x: ones([2]), y: [zeros([2]), ones([1])] }));
  t.equal(memory().tensors, base + 3, 'tensors in returned objects and arrays survive');
  dispose(x, y);
  t.equal(memory().tensors, base);
  let outer: Tensor | undefined;
  tidy(() => {
    outer = keep(ones([3]));
    tidy(() => ones([3]));
  });
  t.equal(outer!.isDisposed, false, 'keep() survives enclosing scopes');
  outer!.dispose();
  t.throws(() => tidy(() => { ones([1]); throw new Error('boom'); }), /boom/);
  t.equal(memory().tensors, base, 'a throwing scope still frees');
  t.throws(() => tidy(() => Promise.resolve(1) as any), TypeError, 'async tidy is refused');
  {
    using z = zeros([4]);
    t.equal(z.isDisposed, false);
    outer = z;
  }
  t.equal(outer!.isDisposed, true, '`using` disposes at block end');
  const v = ones([8]);
  const view = v.reshape(2, 4);
  const before = memory().bytes;
  view.dispose();
  t.ok(memory().bytes === before - 0 || memory().bytes === before, 'a view shares its base storage in the byte count');
  v.dispose();
});

t.test('runtime: build info, threads, allocation limit', async (t) => {
  const info = buildInfo();
  t.match(info.libtorch, /^\d+\.\d+/, `libtorch ${info.libtorch}`);
  t.type(info.cpu.avx2, 'boolean');
  t.match(info.parallel, /ATen/);
  setNumThreads(1);
  t.equal(getNumThreads(), 1);
  t.equal(buildInfo().threads, 1);
  const limit = getAllocationLimit();
  setAllocationLimit(1 << 20);
  t.throws(() => zeros([1 << 20]), { name: 'RangeError', code: 'ERR_ALLOCATION_LIMIT' }, '4 MiB over a 1 MiB cap');
  t.throws(() => ones([10, 10]).repeat(1000, 1000), { code: 'ERR_ALLOCATION_LIMIT' }, 'derived sizes are capped too');
  t.ok(zeros([1000]).numel === 1000, 'small allocations pass');
  setAllocationLimit(0);
  t.equal(getAllocationLimit(), limit, '0 restores the default');
  t.throws(() => zeros([1e8, 1e8]), { code: 'ERR_ALLOCATION_LIMIT' }, 'absurd sizes never allocate');
});

t.test('errors: types, shapes, values', async (t) => {
  const a = ones([2, 3]);
  t.throws(() => a.add('x' as any), TypeError);
  t.throws(() => a.matmul(ones([2, 3])), { name: 'RangeError', code: 'ERR_SHAPE', message: /cannot be multiplied/ });
  t.throws(() => a.add(ones([4])), { name: 'RangeError', message: /size/ });
  t.throws(() => a.reshape(7), RangeError);
  t.throws(() => a.select(0, 5), { code: 'ERR_INDEX' });
  t.throws(() => a.sum(3), { code: 'ERR_INDEX' });
  t.throws(() => zeros([-1]), RangeError);
  t.throws(() => zeros([1.5]), RangeError);
  t.throws(() => zeros('3' as any), TypeError);
  t.throws(() => F.conv2d(ones([1, 3, 4, 4]), ones([2, 4, 3, 3])), { name: 'RangeError', message: /channels/ });
  t.throws(() => F.groupNorm(ones([1, 6, 2, 2]), 4), RangeError);
  t.throws(() => F.crossEntropy(ones([2, 3]), tensor(new BigInt64Array([0n, 3n]))), { code: 'ERR_INDEX' });
  t.throws(() => F.crossEntropy(ones([2, 3]), ones([2])), TypeError, 'float targets');
  t.throws(() => ones([2]).matmul(ones([2], { dtype: 'float64' })), { name: 'TypeError', code: 'ERR_DTYPE' });
  t.throws(() => pad(ones([1, 1, 2, 2]), [3, 3, 3, 3], 'reflect'), RangeError);
  t.throws(() => F.dropout(a, 1.5), RangeError);
  t.throws(() => bernoulli(tensor([2])), RangeError);
  t.throws(() => new Tensor(12345).add(1), { code: "ERR_DISPOSED" }, "an id that names no tensor");
  for (const e of [() => a.matmul(ones([5]))]) {
    try {
      e();
    } catch (err) {
      t.notMatch((err as Error).message, /frame #|Exception raised from/, 'no C++ backtrace in messages');
    }
  }
});

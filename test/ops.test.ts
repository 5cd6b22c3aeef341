// Every op against PyTorch (same inputs, forward and backward), and every differentiable op's
// gradient against central finite differences in float64.
import t from 'tap';
import { Tensor, tensor, grad, nn, tidy, type DType } from '../ts/index.js';
import { decodeF64, encodeF64, maxAbs, maxAbsDiff, referenceUnavailable, rng, runReference } from './lib/reference.js';

const F = nn.F;

interface InputSpec {
  shape: number[];
  dtype?: DType;
  /** randn (default), positive (0.5..2), int in [0, high), mask (0/1), away (|x| ≥ 0.1, for kinks) */
  kind?: 'randn' | 'positive' | 'int' | 'mask' | 'away';
  high?: number;
  grad?: boolean;
  values?: number[];
}

interface Case {
  name: string;
  op: string;
  inputs: InputSpec[];
  args?: Record<string, any>;
  run: (x: Tensor[], a: Record<string, any>) => Tensor | Tensor[];
  /** Relative tolerance against PyTorch (default 1e-5 of max|ref|). */
  tol?: number;
  /** Skip the finite-difference check (non-differentiable or piecewise-constant ops). */
  noFd?: boolean;
}

const g = (shape: number[], extra: Partial<InputSpec> = {}): InputSpec => ({ shape, grad: true, ...extra });
const c = (shape: number[], extra: Partial<InputSpec> = {}): InputSpec => ({ shape, ...extra });

const unaryFns = ['exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'sin', 'cos', 'abs', 'neg', 'log1p', 'expm1', 'reciprocal', 'square', 'erf'];

const cases: Case[] = [
  // elementwise with broadcasting
  { name: 'add broadcast', op: 'add', inputs: [g([3, 4]), g([4])], run: ([a, b]) => a.add(b) },
  { name: 'add alpha', op: 'addAlpha', inputs: [g([3, 4]), g([3, 4])], args: { alpha: -0.5 }, run: ([a, b], x) => a.add(b, x.alpha) },
  { name: 'sub broadcast', op: 'sub', inputs: [g([2, 3, 4]), g([3, 1])], run: ([a, b]) => a.sub(b) },
  { name: 'mul broadcast', op: 'mul', inputs: [g([2, 1, 4]), g([3, 1])], run: ([a, b]) => a.mul(b) },
  { name: 'div', op: 'div', inputs: [g([3, 4]), g([3, 4], { kind: 'positive' })], run: ([a, b]) => a.div(b) },
  { name: 'pow tensor', op: 'pow', inputs: [g([3, 4], { kind: 'positive' }), g([3, 4])], run: ([a, b]) => a.pow(b) },
  { name: 'mul scalar', op: 'mulScalar', inputs: [g([5])], args: { s: 2.5 }, run: ([a], x) => a.mul(x.s) },
  { name: 'pow scalar', op: 'powScalar', inputs: [g([5], { kind: 'positive' })], args: { s: 1.7 }, run: ([a], x) => a.pow(x.s) },
  { name: 'maximum', op: 'maximum', inputs: [g([4, 3]), g([4, 3])], run: ([a, b]) => a.maximum(b) },
  { name: 'minimum', op: 'minimum', inputs: [g([4, 3]), g([3])], run: ([a, b]) => a.minimum(b) },
  ...unaryFns.map(
    (fn): Case => ({
      name: `unary ${fn}`,
      op: 'unary',
      inputs: [g([3, 5], { kind: ['log', 'log1p', 'sqrt', 'rsqrt', 'reciprocal'].includes(fn) ? 'positive' : fn === 'abs' ? 'away' : 'randn' })],
      args: { fn },
      run: ([a], x) => (a as any)[x.fn](),
    }),
  ),
  { name: 'silu', op: 'silu', inputs: [g([3, 5])], run: ([a]) => F.silu(a) },
  { name: 'relu', op: 'relu', inputs: [g([3, 5], { kind: 'away' })], run: ([a]) => F.relu(a) },
  { name: 'clamp', op: 'clamp', inputs: [g([4, 4], { kind: 'away' })], args: { min: -0.05, max: 0.07 }, run: ([a], x) => a.clamp(x.min, x.max) },
  { name: 'clamp min only', op: 'clamp', inputs: [g([6], { kind: 'away' })], args: { min: 0.02 }, run: ([a], x) => a.clamp(x.min) },
  ...['eq', 'ne', 'lt', 'le', 'gt', 'ge'].map(
    (fn): Case => ({ name: `compare ${fn}`, op: 'compare', inputs: [c([3, 4], { kind: 'int', high: 3, dtype: 'float32' }), c([4], { kind: 'int', high: 3, dtype: 'float32' })], args: { fn }, run: ([a, b], x) => (a as any)[x.fn](b), noFd: true }),
  ),
  { name: 'where', op: 'where', inputs: [c([3, 4]), g([3, 4]), g([4])], run: ([m, a, b]) => Tensor.prototype.gt.call(m, 0) && whereGt(m, a, b) },
  // reductions
  { name: 'sum all', op: 'sum', inputs: [g([3, 4])], run: ([a]) => a.sum() },
  { name: 'sum dims keepdim', op: 'sum', inputs: [g([2, 3, 4])], args: { dims: [0, 2], keepdim: true }, run: ([a], x) => a.sum(x.dims, { keepdim: true }) },
  { name: 'mean dim', op: 'mean', inputs: [g([2, 3, 4])], args: { dims: [1] }, run: ([a], x) => a.mean(x.dims) },
  { name: 'var unbiased', op: 'var', inputs: [g([4, 6])], args: { dims: [1] }, run: ([a], x) => a.var(x.dims) },
  { name: 'var biased all', op: 'var', inputs: [g([4, 6])], args: { correction: 0 }, run: ([a]) => a.var(undefined, { correction: 0 }) },
  { name: 'std', op: 'std', inputs: [g([5, 3])], args: { dims: [0] }, run: ([a], x) => a.std(x.dims) },
  { name: 'amax', op: 'amax', inputs: [g([3, 7])], args: { dims: [1] }, run: ([a], x) => a.amax(x.dims) },
  { name: 'max dim', op: 'maxDim', inputs: [g([3, 7])], args: { dim: 1 }, run: ([a], x) => { const r = a.max(x.dim); return [r.values, r.indices]; } },
  { name: 'argmax', op: 'argmax', inputs: [c([4, 6])], args: { dim: 1 }, run: ([a], x) => a.argmax(x.dim), noFd: true },
  { name: 'logsumexp', op: 'logsumexp', inputs: [g([3, 10])], args: { dims: [1] }, run: ([a], x) => a.logsumexp(x.dims) },
  { name: 'prod', op: 'prod', inputs: [g([3, 4])], args: { dim: 1 }, run: ([a], x) => a.prod(x.dim) },
  { name: 'norm p=2', op: 'norm', inputs: [g([3, 4])], args: { p: 2, dims: [1] }, run: ([a], x) => a.norm(x.p, x.dims) },
  { name: 'sort descending', op: 'sort', inputs: [g([3, 8])], args: { dim: 1, descending: true }, run: ([a], x) => { const r = a.sort({ dim: x.dim, descending: true }); return [r.values, r.indices]; } },
  { name: 'topk', op: 'topk', inputs: [g([3, 8])], args: { k: 3, dim: 1 }, run: ([a], x) => { const r = a.topk(x.k, { dim: x.dim }); return [r.values, r.indices]; } },
  { name: 'cumsum', op: 'cumsum', inputs: [g([3, 5])], args: { dim: 1 }, run: ([a], x) => a.cumsum(x.dim) },
  // linear algebra
  { name: 'matmul 2d', op: 'matmul', inputs: [g([3, 5]), g([5, 2])], run: ([a, b]) => a.matmul(b) },
  { name: 'matmul batched broadcast', op: 'matmul', inputs: [g([2, 3, 5]), g([5, 4])], run: ([a, b]) => a.matmul(b) },
  { name: 'cdist p=2', op: 'cdist', inputs: [g([5, 3]), g([4, 3])], args: { p: 2 }, run: ([a, b], x) => cdist(a, b, x.p) },
  { name: 'eigh eigenvalues', op: 'eighValues', inputs: [g([4, 4], { dtype: 'float64' })], run: ([a]) => eighValues(a) },
  // shape and indexing
  { name: 'reshape', op: 'reshape', inputs: [g([2, 6])], args: { shape: [3, 4] }, run: ([a], x) => a.reshape(x.shape) },
  { name: 'permute', op: 'permute', inputs: [g([2, 3, 4])], args: { dims: [2, 0, 1] }, run: ([a], x) => a.permute(x.dims) },
  { name: 'slice step', op: 'slice', inputs: [g([3, 9])], args: { start: 1, end: -1, step: 3 }, run: ([a], x) => a.slice(1, x.start, x.end, x.step) },
  { name: 'select', op: 'select', inputs: [g([3, 4])], args: { dim: 1, index: -1 }, run: ([a], x) => a.select(x.dim, x.index) },
  { name: 'index', op: 'index', inputs: [g([5, 3]), c([4], { kind: 'int', high: 5, dtype: 'int64' })], run: ([a, i]) => a.index([i]) },
  { name: 'indexPut accumulate', op: 'indexPut', inputs: [g([5, 3]), c([4], { dtype: 'int64', values: [0, 2, 2, 4] }), g([4, 3])], args: { accumulate: true }, run: ([a, i, v], x) => a.indexPut([i], v, x.accumulate) },
  { name: 'gather', op: 'gather', inputs: [g([3, 5]), c([3, 2], { kind: 'int', high: 5, dtype: 'int64' })], args: { dim: 1 }, run: ([a, i], x) => a.gather(x.dim, i) },
  { name: 'indexSelect', op: 'indexSelect', inputs: [g([4, 3]), c([5], { kind: 'int', high: 4, dtype: 'int64' })], args: { dim: 0 }, run: ([a, i], x) => a.indexSelect(x.dim, i) },
  { name: 'scatterAdd', op: 'scatterAdd', inputs: [g([3, 5]), c([3, 4], { kind: 'int', high: 5, dtype: 'int64' }), g([3, 4])], args: { dim: 1 }, run: ([a, i, s], x) => a.scatterAdd(x.dim, i, s) },
  { name: 'cat', op: 'cat', inputs: [g([2, 3]), g([2, 2])], args: { dim: 1 }, run: ([a, b], x) => catT([a, b], x.dim) },
  { name: 'stack', op: 'stack', inputs: [g([2, 3]), g([2, 3])], args: { dim: 1 }, run: ([a, b], x) => stackT([a, b], x.dim) },
  { name: 'pad constant asym', op: 'pad', inputs: [g([1, 2, 3, 3])], args: { pads: [0, 1, 2, 0], mode: 'constant', value: 0.5 }, run: ([a], x) => padT(a, x.pads, x.mode, x.value) },
  { name: 'pad reflect 2d', op: 'pad', inputs: [g([1, 2, 5, 5])], args: { pads: [4, 4, 4, 4], mode: 'reflect' }, run: ([a], x) => padT(a, x.pads, x.mode) },
  { name: 'pad replicate', op: 'pad', inputs: [g([1, 2, 3, 3])], args: { pads: [1, 2, 0, 1], mode: 'replicate' }, run: ([a], x) => padT(a, x.pads, x.mode) },
  { name: 'flip', op: 'flip', inputs: [g([2, 3, 4])], args: { dims: [0, 2] }, run: ([a], x) => a.flip(x.dims) },
  { name: 'expand', op: 'expand', inputs: [g([3, 1])], args: { shape: [2, 3, 4] }, run: ([a], x) => a.expand(x.shape) },
  { name: 'repeat', op: 'repeat', inputs: [g([2, 3])], args: { reps: [2, 1, 2] }, run: ([a], x) => a.repeat(x.reps) },
  // neural-network ops
  { name: 'conv2d 3x3 pad1 bias', op: 'conv2d', inputs: [g([2, 3, 6, 6]), g([4, 3, 3, 3]), g([4])], args: { padding: 1 }, run: ([x, w, b]) => F.conv2d(x, w, b, { padding: 1 }) },
  { name: 'conv2d stride2 asym pad', op: 'conv2d', inputs: [g([2, 3, 6, 6]), g([4, 3, 3, 3]), g([4])], args: { stride: 2, padding: [0, 1, 0, 1] }, run: ([x, w, b]) => F.conv2d(x, w, b, { stride: 2, padding: [0, 1, 0, 1] }) },
  { name: 'conv2d groups dilation', op: 'conv2d', inputs: [g([1, 4, 7, 7]), g([6, 2, 3, 3])], args: { groups: 2, dilation: 2, padding: 2 }, run: ([x, w]) => F.conv2d(x, w, null, { groups: 2, dilation: 2, padding: 2 }) },
  { name: 'linear', op: 'linear', inputs: [g([4, 5]), g([3, 5]), g([3])], run: ([x, w, b]) => F.linear(x, w, b) },
  { name: 'groupNorm', op: 'groupNorm', inputs: [g([2, 6, 3, 3]), g([6]), g([6])], args: { groups: 3, eps: 1e-6 }, run: ([x, w, b], a) => F.groupNorm(x, a.groups, w, b, a.eps) },
  { name: 'batchNorm train', op: 'batchNorm', inputs: [g([4, 3, 2, 2]), c([3]), c([3], { kind: 'positive' }), g([3]), g([3])], args: { training: true, stats: true, momentum: 0.2 }, run: ([x, rm, rv, w, b], a) => batchNormT(x, rm, rv, w, b, a) },
  { name: 'batchNorm eval', op: 'batchNorm', inputs: [g([4, 3, 2, 2]), c([3]), c([3], { kind: 'positive' }), g([3]), g([3])], args: { training: false, stats: true }, run: ([x, rm, rv, w, b], a) => batchNormT(x, rm, rv, w, b, a) },
  { name: 'leakyRelu', op: 'leakyRelu', inputs: [g([4, 4], { kind: 'away' })], args: { slope: 0.2 }, run: ([x], a) => F.leakyRelu(x, a.slope) },
  { name: 'softplus', op: 'softplus', inputs: [g([4, 4])], args: { beta: 2, threshold: 1.5 }, run: ([x], a) => F.softplus(x, a.beta, a.threshold) },
  { name: 'softmax', op: 'softmax', inputs: [g([3, 6])], args: { dim: 1 }, run: ([x], a) => F.softmax(x, a.dim) },
  { name: 'logSoftmax', op: 'logSoftmax', inputs: [g([3, 6])], args: { dim: 0 }, run: ([x], a) => F.logSoftmax(x, a.dim) },
  { name: 'avgPool2d', op: 'avgPool2d', inputs: [g([1, 2, 6, 6])], args: { kernel: 2 }, run: ([x], a) => F.avgPool2d(x, a.kernel) },
  { name: 'avgPool2d no pad count', op: 'avgPool2d', inputs: [g([1, 2, 5, 5])], args: { kernel: 3, stride: 1, padding: 1, countIncludePad: false }, run: ([x], a) => F.avgPool2d(x, a.kernel, { stride: a.stride, padding: a.padding, countIncludePad: false }) },
  { name: 'maxPool2d', op: 'maxPool2d', inputs: [g([1, 2, 7, 7])], args: { kernel: 3, stride: 2, padding: 1 }, run: ([x], a) => F.maxPool2d(x, a.kernel, { stride: a.stride, padding: a.padding }) },
  { name: 'adaptiveAvgPool2d', op: 'adaptiveAvgPool2d', inputs: [g([2, 3, 7, 5])], args: { size: [1, 1] }, run: ([x], a) => F.adaptiveAvgPool2d(x, a.size) },
  { name: 'upsampleNearest x2', op: 'upsampleNearest', inputs: [g([1, 2, 3, 4])], args: { scale: 2 }, run: ([x], a) => F.upsampleNearest(x, a.scale) },
  { name: 'resizeBilinear up', op: 'resizeBilinear', inputs: [g([1, 2, 5, 4])], args: { size: [11, 9] }, run: ([x], a) => F.resizeBilinear(x, a.size) },
  { name: 'resizeBilinear down', op: 'resizeBilinear', inputs: [g([1, 1, 9, 9])], args: { size: [4, 5] }, run: ([x], a) => F.resizeBilinear(x, a.size) },
  { name: 'attention', op: 'attention', inputs: [g([2, 5, 4]), g([2, 6, 4]), g([2, 6, 3])], run: ([q, k, v]) => F.scaledDotProductAttention(q, k, v) },
  { name: 'attention scale', op: 'attention', inputs: [g([1, 2, 4, 8]), g([1, 2, 4, 8]), g([1, 2, 4, 8])], args: { scale: 0.3 }, run: ([q, k, v], a) => F.scaledDotProductAttention(q, k, v, { scale: a.scale }) },
  { name: 'crossEntropy', op: 'crossEntropy', inputs: [g([5, 4]), c([5], { kind: 'int', high: 4, dtype: 'int64' })], run: ([l, y]) => F.crossEntropy(l, y) },
  { name: 'crossEntropy smoothing sum', op: 'crossEntropy', inputs: [g([5, 4]), c([5], { kind: 'int', high: 4, dtype: 'int64' })], args: { reduction: 'sum', labelSmoothing: 0.1 }, run: ([l, y], a) => F.crossEntropy(l, y, a as any) },
  { name: 'mseLoss', op: 'mseLoss', inputs: [g([3, 4]), g([3, 4])], run: ([a, b]) => F.mseLoss(a, b) },
  { name: 'timestepEmbedding', op: 'timestepEmbedding', inputs: [c([4], { dtype: 'int64', values: [0, 1, 500, 999] })], args: { dim: 32 }, run: ([ts], a) => F.timestepEmbedding(ts, a.dim), noFd: true },
  { name: 'timestepEmbedding odd', op: 'timestepEmbedding', inputs: [c([3], { dtype: 'int64', values: [3, 70, 998] })], args: { dim: 9 }, run: ([ts], a) => F.timestepEmbedding(ts, a.dim), noFd: true },
  { name: 'dropout eval is identity', op: 'dropoutEval', inputs: [g([3, 4])], args: { p: 0.3 }, run: ([x], a) => F.dropout(x, a.p, { training: false }) },
];

// helpers used by the table (kept out of line so the table reads as a spec)
import { cat as catT, stack as stackT, pad as padT, cdist, eigh, where } from '../ts/index.js';
function whereGt(m: Tensor, a: Tensor, b: Tensor): Tensor {
  const mask = m.gt(0);
  try {
    return where(mask, a, b);
  } finally {
    mask.dispose();
  }
}
function eighValues(a: Tensor): Tensor {
  const sym = a.add(a.transpose(-2, -1));
  const { eigenvalues } = eigh(sym);
  return eigenvalues;
}
function batchNormT(x: Tensor, rm: Tensor, rv: Tensor, w: Tensor, b: Tensor, a: Record<string, any>): Tensor[] {
  const m = rm.clone();
  const v = rv.clone();
  const y = F.batchNorm(x, { runningMean: m, runningVar: v, weight: w, bias: b, training: a.training, momentum: a.momentum });
  return [y, m, v];
}

function makeData(spec: InputSpec, r: () => number): Float64Array {
  const n = spec.shape.reduce((p, q) => p * q, 1);
  if (spec.values) return Float64Array.from(spec.values);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    switch (spec.kind ?? 'randn') {
      case 'positive':
        out[i] = 0.5 + 1.5 * u;
        break;
      case 'int':
        out[i] = Math.floor(u * (spec.high ?? 2));
        break;
      case 'mask':
        out[i] = u < 0.5 ? 0 : 1;
        break;
      case 'away': {
        const v = Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * r());
        out[i] = Math.sign(v || 1) * (0.1 + Math.abs(v));
        break;
      }
      default:
        out[i] = Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * r());
    }
  }
  return out;
}

function toTensor(data: Float64Array, spec: InputSpec, floatDtype: DType): Tensor {
  const dtype = spec.dtype ?? floatDtype;
  const t = tensor(data, spec.shape, { dtype: dtype === 'float64' || dtype === 'float32' ? dtype : 'float64' });
  if (dtype === 'float64' || dtype === 'float32') return t;
  const conv = t.to(dtype);
  t.dispose();
  return conv;
}

function asList(out: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(out) ? out : [out];
}

// Inputs and upstream gradients, generated once per case.
const r = rng(20261204);
const prepared = cases.map((cs) => {
  const data = cs.inputs.map((s) => makeData(s, r));
  const out0 = tidy(() => asList(cs.run(data.map((d, i) => toTensor(d, cs.inputs[i], 'float32')), cs.args ?? {}))[0].shape);
  const upstream = makeData({ shape: [...out0] }, r);
  return { cs, data, upstream, outShape: out0 };
});

const why = referenceUnavailable();
t.test('ops against PyTorch (float32 forward and backward)', { skip: !process.env.CI && why ? why : false }, async (t) => {
  if (why) throw new Error(`PyTorch reference unavailable: ${why}`);
  const payload = prepared.map(({ cs, data, upstream, outShape }) => ({
    name: cs.name,
    op: cs.op,
    args: cs.args ?? {},
    inputs: cs.inputs.map((s, i) => ({ shape: s.shape, dtype: s.dtype ?? 'float32', grad: !!s.grad, data: encodeF64(data[i]) })),
    upstream: { shape: outShape, data: encodeF64(upstream) },
  }));
  const results = runReference<any[]>('bench/ref/ops.py', payload);
  for (const [k, { cs, data, upstream }] of prepared.entries()) {
    const ref = results[k];
    t.test(cs.name, async (t) => {
      t.notOk(ref.error, `reference ran (${ref.error ?? ''})`);
      if (ref.error) return;
      tidy(() => {
        const inputs = data.map((d, i) => toTensor(d, cs.inputs[i], 'float32'));
        inputs.forEach((x, i) => cs.inputs[i].grad && x.requiresGrad_());
        const outs = asList(cs.run(inputs, cs.args ?? {}));
        const tol = cs.tol ?? 1e-5;
        for (const [j, o] of outs.entries()) {
          const want = decodeF64(ref.outputs[j].data);
          t.same(o.shape, ref.outputs[j].shape, `output ${j} shape`);
          const got = o.toFloat64Array();
          const err = maxAbsDiff(got, want);
          t.ok(err <= tol * Math.max(maxAbs(want), 1e-3), `output ${j}: max|Δ| ${err.toExponential(2)} vs max|ref| ${maxAbs(want).toExponential(2)}`);
        }
        const wrt = inputs.filter((_, i) => cs.inputs[i].grad);
        if (wrt.length === 0) return;
        const up = tensor(upstream, outs[0].shape, { dtype: outs[0].dtype });
        const gs = grad(outs[0].mul(up).sum(), wrt, { allowUnused: true });
        for (const [j, gr] of gs.entries()) {
          const want = ref.grads[j];
          if (want === null) {
            t.equal(gr, undefined, `grad ${j} is absent in both`);
            continue;
          }
          const wantData = decodeF64(want.data);
          const got = gr ? gr.toFloat64Array() : new Float64Array(wantData.length);
          const err = maxAbsDiff(got, wantData);
          t.ok(err <= 2 * tol * Math.max(maxAbs(wantData), 1e-3), `grad ${j}: max|Δ| ${err.toExponential(2)} vs max|ref| ${maxAbs(wantData).toExponential(2)}`);
        }
      });
    });
  }
});

// Central differences in float64: dL/dx_i ≈ (L(x + h e_i) − L(x − h e_i)) / 2h with L = Σ out·u.
t.test('gradients against finite differences (float64)', async (t) => {
  const pick = rng(7);
  for (const { cs, data, upstream } of prepared) {
    if (cs.noFd || !cs.inputs.some((s) => s.grad)) continue;
    t.test(cs.name, async (t) => {
      tidy(() => {
        const loss = (vals: Float64Array[]) =>
          tidy(() => {
            const xs = vals.map((d, i) => toTensor(d, cs.inputs[i], 'float64'));
            const out = asList(cs.run(xs, cs.args ?? {}))[0];
            return out.mul(tensor(upstream, out.shape, { dtype: 'float64' })).sum().item();
          });
        const xs = data.map((d, i) => toTensor(d, cs.inputs[i], 'float64'));
        xs.forEach((x, i) => cs.inputs[i].grad && x.requiresGrad_());
        const out = asList(cs.run(xs, cs.args ?? {}))[0];
        const L = out.mul(tensor(upstream, out.shape, { dtype: 'float64' })).sum();
        const gradIdx = cs.inputs.map((s, i) => (s.grad ? i : -1)).filter((i) => i >= 0);
        const gs = grad(L, gradIdx.map((i) => xs[i]), { allowUnused: true });
        let worst = 0;
        for (const [j, i] of gradIdx.entries()) {
          const ana = gs[j] ? gs[j]!.toFloat64Array() : new Float64Array(data[i].length);
          const n = data[i].length;
          const probes = n <= 12 ? [...Array(n).keys()] : Array.from({ length: 12 }, () => Math.floor(pick() * n));
          for (const e of probes) {
            const h = 1e-6 * Math.max(1, Math.abs(data[i][e]));
            const plus = data.map((d) => d.slice());
            const minus = data.map((d) => d.slice());
            plus[i][e] += h;
            minus[i][e] -= h;
            const num = (loss(plus) - loss(minus)) / (2 * h);
            worst = Math.max(worst, Math.abs(num - ana[e]) / (1 + Math.abs(ana[e])));
          }
        }
        t.ok(worst < 1e-5, `worst relative error ${worst.toExponential(2)}`);
      });
    });
  }
});

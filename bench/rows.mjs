// Benchmark rows on the langevin side. Each has a twin of the same name in bench/ref/worker.py.
import { Generator, randn, ones, tidy, dispose, nn } from '../dist/index.js';

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

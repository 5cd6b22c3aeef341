import { Generator, nn, randn, tidy, zeros, memory } from '/work/main/ts/index.js';
const g = new Generator(0);
const w = randn([64, 64], { generator: g }).mul(0.1).requiresGrad_();
const b = zeros([64]).requiresGrad_();
const mode = process.env.MODE;
for (let i = 1; i <= 20_000; i++) {
  tidy(() => {
    const x = randn([16, 64], { generator: g });
    if (mode === 'rand') return;
    const y = nn.F.linear(x, w, b).tanh();
    const loss = nn.F.mseLoss(y, x);
    if (mode === 'fwd') return;
    loss.backward();
    w.zeroGrad();
    b.zeroGrad();
  });
  if (process.env.GC && i % 500 === 0) { (globalThis as any).gc(); await new Promise((r) => setImmediate(r)); }
  if (i % 2000 === 0) { const m = process.memoryUsage(); console.log(i, (m.rss/1e6).toFixed(0), (m.heapUsed/1e6).toFixed(0), (m.external/1e6).toFixed(1), memory().tensors); }
}

// `langevin demo`: until the DDPM demo lands, a short tour that exercises the native stack end to
// end — build info, a conv block forward+backward, and a Langevin chain on a worker thread.
import { Generator, buildInfo, gaussianLangevin, grad, randn, setNumThreads, tidy, zeros } from '../tensor/index.js';
import * as nn from '../nn/index.js';

export interface DemoOptions {
  signal?: AbortSignal;
  threads?: number;
  log: (s: string) => void;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const { log } = opts;
  if (opts.threads) setNumThreads(opts.threads);
  const info = buildInfo();
  log(`langevin on libtorch ${info.libtorch} (${info.cudaAvailable ? 'CUDA' : 'CPU'}), ${info.threads} thread(s)\n`);

  const g = new Generator(0);
  const t0 = performance.now();
  const gradNorm = tidy(() => {
    const x = randn([8, 64, 32, 32], { generator: g }).requiresGrad_();
    const w = randn([64, 64, 3, 3], { generator: g }).mul(0.05);
    const h = nn.F.conv2d(nn.F.groupNorm(x, 32).silu(), w, null, { padding: 1 });
    const [gx] = grad(h.square().mean(), x);
    return gx!.norm().item();
  });
  log(`GroupNorm → SiLU → conv3×3 on 8×64×32×32, forward + input gradient: ${(performance.now() - t0).toFixed(0)} ms (‖∂L/∂x‖ = ${gradNorm.toExponential(3)})\n`);

  const x = zeros([100_000], { dtype: 'float64' });
  const steps = 500;
  const t1 = performance.now();
  await gaussianLangevin(x, {
    mean: 1, std: 0.5, stepSize: 0.01, noise: Math.sqrt(0.02), steps, generator: g, progressEvery: 25, signal: opts.signal,
    onProgress: (p) => log(`\rLangevin chain on a worker thread: step ${p.step}/${p.total}, mean energy ${p.energy.toFixed(4)}   `),
  });
  const mean = x.mean().item();
  const std = x.std().item();
  log(`\n${steps} steps in ${(performance.now() - t1).toFixed(0)} ms: sample mean ${mean.toFixed(3)} (target 1), std ${std.toFixed(3)} (target ≈ 0.5)\n`);
  x.dispose();
  return 0;
}

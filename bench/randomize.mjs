// Full-scale random weights for benchmark and device-check models: the DDPM init is ~1e-10 in
// places, which can hit denormal paths and makes comparisons toothless. Mirrored by randomize() in
// bench/ref/worker.py.
import { Generator, noGrad, normal_, uniform_ } from '../dist/index.js';

export function randomize(model, seed) {
  const r = new Generator(seed);
  noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      if (p.ndim >= 2) normal_(p, 0, 1 / Math.sqrt(p.numel / p.shape[0]), r);
      else if (name.endsWith('weight')) uniform_(p, 0.5, 1.5, r);
      else normal_(p, 0, 0.1, r);
    }
  });
  return model;
}

// Shared model helpers for the tests.
import { Generator, nn, noGrad, normal_, uniform_ } from '../../ts/index.js';

/** Full-scale weights: without them the near-zero DDPM init makes outputs ~1e-10 and tests toothless. */
export function randomize(m: nn.UNet | nn.WideResNet, seed: number): void {
  const g = new Generator(seed);
  noGrad(() => {
    for (const [name, p] of m.namedParameters()) {
      if (p.ndim >= 2) normal_(p, 0, 1 / Math.sqrt(p.numel / p.shape[0]), g);
      else if (name.endsWith('weight')) uniform_(p, 0.5, 1.5, g);
      else normal_(p, 0, 0.1, g);
    }
    for (const [name, b] of m.namedBuffers()) {
      if (name.endsWith('running_mean')) normal_(b, 0, 0.1, g);
      if (name.endsWith('running_var')) uniform_(b, 0.5, 1.5, g);
    }
  });
}

// Initialisers, seeded by an explicit Generator.
import { uniform_ } from '../tensor/creation.js';
import type { Generator } from '../tensor/generator.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';

/** fan_in and fan_out of a Linear [out, in] or Conv [out, in, kh, kw] weight (kernel size included). */
export function fans(w: Tensor): { fanIn: number; fanOut: number } {
  const [out, inp, ...k] = w.shape;
  const field = k.reduce((a, b) => a * b, 1);
  return { fanIn: inp * field, fanOut: out * field };
}

/**
 * TF's variance_scaling(scale, mode='fan_avg', distribution='uniform'), the original DDPM init:
 * U(±√(3·scale / ((fan_in + fan_out)/2))).
 */
export function varianceScalingFanAvg(w: Tensor, scale: number, generator?: Generator): Tensor {
  const { fanIn, fanOut } = fans(w);
  const bound = Math.sqrt((3 * scale) / ((fanIn + fanOut) / 2));
  return noGrad(() => uniform_(w, -bound, bound, generator));
}

/** PyTorch's default Conv/Linear init: kaiming_uniform(a=√5) → U(±1/√fan_in), bias U(±1/√fan_in). */
export function torchDefault(w: Tensor, b: Tensor | undefined, generator?: Generator): void {
  const bound = 1 / Math.sqrt(fans(w).fanIn);
  noGrad(() => {
    uniform_(w, -bound, bound, generator);
    if (b) uniform_(b, -bound, bound, generator);
  });
}

// JEM's view of a classifier (Grathwohl et al. 2020): logits f(x), the energy
// E(x) = −logsumexp_y f(x)[y], the class-conditional E(x, y) = −f(x)[y], p(y|x), and ∂E/∂x.
// For a compiled WideResNet the energy and its input gradient are one native call; any other
// classifier Module goes through autograd from TypeScript with the same math.
import { grad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/generator.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { native } from '../tensor/binding.js';
import { supportedComputeDtype, type ComputeDtype } from '../tensor/runtime.js';
import type { Classifier } from '../train/classifier.js';
import { WideResNet } from '../nn/wideresnet.js';
import * as F from '../nn/functional.js';

export type { Classifier };

function checkLabels(x: Tensor, y: Tensor | undefined): void {
  if (y && (y.dtype !== 'int64' || y.ndim !== 1 || y.shape[0] !== x.shape[0])) throw new RangeError(`energy: y must be int64 labels [${x.shape[0]}], got ${y.dtype} [${y.shape.join(', ')}]`);
}

/** E from logits: −logsumexp over classes, or −f[y] when labels are given. */
export function energyFromLogits(logits: Tensor, y?: Tensor): Tensor {
  return tidy(() => (y ? logits.gather(1, y.reshape([-1, 1])).squeeze(1).neg() : logits.logsumexp(1).neg()));
}

/** E(x) (or E(x, y)) per example, with autograd when enabled. */
export function energy(model: Classifier, x: Tensor, y?: Tensor): Tensor {
  checkLabels(x, y);
  return tidy(() => energyFromLogits(model.forward(x), y));
}

/** p(y|x) = softmax f(x). */
export function classProbs(model: Classifier, x: Tensor): Tensor {
  return tidy(() => F.softmax(model.forward(x), 1));
}

/** A compiled WRN runs the energy natively; other classifiers through TypeScript autograd. */
export function isCompiled(model: Classifier): model is WideResNet & Classifier {
  return model instanceof WideResNet;
}

/**
 * E and ∂E/∂x for a batch with the model in eval mode (as JEM samples), parameter .grad left
 * alone. One native call for a compiled WideResNet (which can also compute in bf16: see
 * SgldOptions.computeDtype).
 */
export function energyGrad(model: Classifier, x: Tensor, opts: { y?: Tensor; generator?: Generator; computeDtype?: ComputeDtype | 'auto' } = {}): { energy: Tensor; grad: Tensor } {
  checkLabels(x, opts.y);
  const computeDtype = supportedComputeDtype(opts.computeDtype, x.device, isCompiled(model), 'energyGrad: computeDtype', 'needs a compiled WideResNet');
  if (isCompiled(model)) {
    const [e, g] = native.energyGrad(model.program.native, x.native, opts.y?.native, opts.generator?.native, computeDtype);
    return { energy: new Tensor(e), grad: new Tensor(g) };
  }
  const was = model.training;
  model.eval();
  try {
    return tidy(() => {
      const xi = x.detach().requiresGrad_();
      const e = energyFromLogits(model.forward(xi), opts.y);
      const [g] = grad(e.sum(), xi);
      return { energy: e.detach(), grad: g! };
    });
  } finally {
    model.train(was);
  }
}

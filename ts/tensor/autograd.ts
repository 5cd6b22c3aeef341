// Gradient mode and functional gradients.
import { native } from './binding.js';
import { Tensor } from './tensor.js';

/** Runs `fn` with gradient tracking off (PyTorch's torch.no_grad). Synchronous functions only. */
export function noGrad<R>(fn: () => R): R {
  const prev = native.setGradEnabled(false);
  try {
    const r = fn();
    if (r instanceof Promise) throw new TypeError('noGrad: the function returned a Promise; grad mode is per call, so pass a synchronous function');
    return r;
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs `fn` with gradient tracking on (inside a noGrad scope, for instance). */
export function enableGrad<R>(fn: () => R): R {
  const prev = native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

export interface GradOptions {
  /** Upstream gradients, one per output (needed for non-scalar outputs). */
  gradOutputs?: Tensor[];
  retainGraph?: boolean;
  createGraph?: boolean;
  /** Return undefined for inputs the outputs do not depend on, instead of throwing. */
  allowUnused?: boolean;
}

/**
 * Gradients of `outputs` with respect to `inputs` (torch.autograd.grad). Does not touch any
 * tensor's .grad — SGLD and PGD take input gradients without disturbing parameter gradients.
 */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], opts: GradOptions = {}): (Tensor | undefined)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const gs = native.grad(
    outs.map((t) => t.native),
    ins.map((t) => t.native),
    opts.gradOutputs?.map((t) => t.native),
    opts.retainGraph ?? false,
    opts.createGraph ?? false,
    opts.allowUnused ?? false,
  );
  return gs.map((g) => (g ? new Tensor(g) : undefined));
}

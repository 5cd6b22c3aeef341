/**
 * langevin: diffusion models (DDPM) and joint energy-based models (JEM) in TypeScript over libtorch.
 * This entry point re-exports the tensor layer at the top level and the other concerns as namespaces.
 */
export * from './tensor/index.js';
export * as nn from './nn/index.js';
export * as io from './io/index.js';
export * as data from './data/index.js';
export * as train from './train/index.js';
export * as diffusion from './diffusion/index.js';
export * as jem from './jem/index.js';
export * as metrics from './metrics/index.js';

export { Tensor, type Dims, type ReduceOptions, type VarOptions, type ValuesIndices, type BackwardOptions } from './tensor.js';
export * from './creation.js';
export { Generator, manualSeed } from './generator.js';
export { noGrad, enableGrad, isGradEnabled, grad, type GradOptions } from './autograd.js';
export { tidy, keep, dispose } from './scope.js';
export * from './runtime.js';
export { runJob, type JobOptions, type Progress } from './jobs.js';
export { gaussianLangevin, type GaussianLangevinOptions } from './reference-chain.js';
export { type DType, type Device, type MemoryFormat, dtypes, isFloating, itemSize, type AnyTypedArray } from './dtype.js';

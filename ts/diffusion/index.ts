export { betas, DiffusionTables, type BetaSchedule, type ScheduleOptions, type VarianceKind } from './schedule.js';
export { GaussianDiffusion, trainingComputeDtype, type DiffusionOptions, type DiffusionStepPlan, type EpsModel } from './gaussian.js';
export { sample, samplerPlans, toUint8, type SampleOptions, type SampleResult, type SamplerKind, type Snapshot } from './sample.js';
export { ddpmRecipe, trainDdpm, validationLoss, withWeights, type DdpmModel, type DdpmRecipe, type DdpmStepRecord, type DdpmTrainOptions } from './train.js';
export { exportDdpm, loadDdpm, type LoadedDdpm, type WeightsChoice } from './checkpoint.js';
export { bitsPerDim, vlbTerm, priorBpd, normalKl, discretizedGaussianLogLikelihood, type BpdOptions, type BpdResult } from './vlb.js';

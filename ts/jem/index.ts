export { classProbs, energy, energyFromLogits, energyGrad, isCompiled, type Classifier } from './energy.js';
export { SgldChain, sgld, sgldStep, type SgldOptions, type SgldStepInfo } from './sgld.js';
export { ReplayBuffer, type GaussianInit, type ReplayBufferOptions } from './buffer.js';
export { jemRecipe, trainJem, type DivergenceGuard, type JemRecipe, type JemStepRecord, type JemTrainOptions } from './train.js';
export { auroc, calibration, datasetScores, defendedLogits, oodScores, oodSets, pgdAccuracy, pgdStep, saveReliabilityDiagram, type Calibration, type CalibrationBin, type OodScores, type PgdOptions, type PgdResult, type SgldDefense } from './eval.js';
export { loadJem, type LoadedJem } from './checkpoint.js';

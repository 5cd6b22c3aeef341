export { Adam, AdamW, SGD, clipGradNorm, type Optimizer, type OptimizerState, type AdamOptions, type SgdOptions } from './optim.js';
export { linearWarmup, stepDecay, cosine, constant, type Schedule } from './schedule.js';
export { EMA, type EmaOptions } from './ema.js';
export { saveCheckpoint, loadCheckpoint, CheckpointError, CHECKPOINT_FORMAT, type CheckpointParts, type CheckpointInfo } from './checkpoint.js';
export { trainLoop, TrainingDivergedError, type StepRecord, type StepResult, type LoopOptions } from './loop.js';
export { trainClassifier, evaluateClassifier, type Classifier, type ClassifierTrainOptions, type ClassifierEval } from './classifier.js';
export { streamSeed } from './seeds.js';
export { linePlot, savePlot, niceTicks, type Series, type PlotOptions } from './plot.js';
export { BatchStream } from './stream.js';

export { FeatureStats, saveMoments, loadMoments, momentsFromTensors, disposeMoments, trace, STATS_FORMAT, type FeatureMoments } from './stats.js';
export { frechetDistance, traceSqrtProduct, type FrechetOptions } from './frechet.js';
export { kernelInceptionDistance, polynomialMmd2, type KidOptions, type KidResult } from './kid.js';
export { inceptionScore, type InceptionScoreResult } from './inception-score.js';
export { FMNIST_FEATURE_NET, openFeatureNetwork, openInceptionNetwork, fmnistFeatureNetPath, extractFeatures, datasetImages, tensorImages, type FeatureNetwork, type ImageBatches, type ExtractOptions, type Extracted } from './features.js';

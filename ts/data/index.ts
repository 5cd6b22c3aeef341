export { ImageDataset, type Augmentation, type BatchOptions, type Batch } from './dataset.js';
export { readIdx, DataFormatError, type IdxArray } from './idx.js';
export { fashionMnist, mnistFolder, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, type MnistOptions } from './mnist.js';
export { encodePng, decodePng, pngGrid, savePngGrid, type GridOptions } from './png.js';
export { cifar10, CIFAR10_CLASSES } from './cifar.js';
export { imageFolder, type ImageFolder, type ImageFolderOptions } from './folder.js';
export { openDataset, DATA_SPECS } from './spec.js';

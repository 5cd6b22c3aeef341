// MNIST-format data sets from IDX files: Fashion-MNIST (Debian's dataset-fashion-mnist by default), MNIST.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError, readIdx } from './idx.js';
import { ImageDataset } from './dataset.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface MnistOptions {
  split?: 'train' | 'test';
  /** Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. */
  root?: string;
  /** Zero-pad 28×28 to 32×32 (default true: the U-Nets and WRNs here want 32). */
  pad32?: boolean;
}

function find(root: string, base: string): string {
  for (const name of [base, `${base}.gz`]) if (existsSync(join(root, name))) return join(root, name);
  throw new DataFormatError(join(root, base), `not found (nor ${base}.gz); ` + (root === FASHION_MNIST_DIR ? 'install it with `apt-get install dataset-fashion-mnist`' : 'point root at a folder with the IDX files'));
}

/** An MNIST-layout data set from a folder of IDX files (1×28×28, or 1×32×32 padded). */
export async function mnistFolder(root: string, opts: MnistOptions = {}): Promise<ImageDataset> {
  const prefix = (opts.split ?? 'train') === 'train' ? 'train' : 't10k';
  const imgPath = find(root, `${prefix}-images-idx3-ubyte`);
  const lblPath = find(root, `${prefix}-labels-idx1-ubyte`);
  const [img, lbl] = await Promise.all([readIdx(imgPath), readIdx(lblPath)]);
  if (img.dims.length !== 3) throw new DataFormatError(imgPath, `images must be 3-d (N×H×W), got ${img.dims.join('×')}`);
  if (lbl.dims.length !== 1) throw new DataFormatError(lblPath, `labels must be 1-d, got ${lbl.dims.join('×')}`);
  if (lbl.dims[0] !== img.dims[0]) throw new DataFormatError(lblPath, `${lbl.dims[0]} labels for ${img.dims[0]} images (${imgPath})`);
  for (const [i, v] of lbl.data.entries()) if (v > 9) throw new DataFormatError(lblPath, `label ${v} at index ${i} is not a class 0–9`);
  const [n, h, w] = img.dims;
  const ds = ImageDataset.fromBytes(img.data, [n, 1, h, w], lbl.data, `${root}:${opts.split ?? 'train'}`);
  if (opts.pad32 === false) return ds;
  if (h > 32 || w > 32) return ds;
  const padded = ds.padded((32 - h) / 2);
  ds.dispose();
  return padded;
}

/** Fashion-MNIST from Debian's dataset-fashion-mnist (or `root`). 60,000 train / 10,000 test. */
export function fashionMnist(opts: MnistOptions = {}): Promise<ImageDataset> {
  return mnistFolder(opts.root ?? FASHION_MNIST_DIR, opts);
}

// CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin): records of 1 label byte + 3072
// pixel bytes (R, G, B planes of 32×32) — already N×C×H×W.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError } from './idx.js';
import { ImageDataset } from './dataset.js';

const RECORD = 1 + 3 * 32 * 32;

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** CIFAR-10 from the binary version's folder (cifar-10-batches-bin). */
export async function cifar10(dir: string, opts: { split?: 'train' | 'test' } = {}): Promise<ImageDataset> {
  const files = (opts.split ?? 'train') === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  const parts: Buffer[] = [];
  for (const f of files) {
    const path = join(dir, f);
    if (!existsSync(path)) throw new DataFormatError(path, 'not found (point at the folder with the CIFAR-10 binary batches; nothing is downloaded)');
    const b = await readFile(path);
    if (b.length === 0 || b.length % RECORD !== 0) throw new DataFormatError(path, `${b.length} bytes is not a whole number of ${RECORD}-byte records (truncated?)`);
    for (let r = 0; r < b.length; r += RECORD) if (b[r] > 9) throw new DataFormatError(path, `record ${r / RECORD} has label ${b[r]}; CIFAR-10 labels are 0–9`);
    parts.push(b);
  }
  const all = Buffer.concat(parts);
  const n = all.length / RECORD;
  const pixels = new Uint8Array(n * (RECORD - 1));
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = all[i * RECORD];
    pixels.set(all.subarray(i * RECORD + 1, (i + 1) * RECORD), i * (RECORD - 1));
  }
  return ImageDataset.fromBytes(pixels, [n, 3, 32, 32], labels, `cifar10:${opts.split ?? 'train'}`);
}

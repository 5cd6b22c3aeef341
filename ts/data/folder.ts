// A folder of PNG images: class sub-folders (sorted names → labels 0, 1, …) or a flat folder
// (label 0). All images must share one size; pixels are converted natively to 1 or 3 channels.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cat, fromBytes } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { DataFormatError } from './idx.js';
import { ImageDataset } from './dataset.js';
import { decodePng } from './png.js';

export interface ImageFolderOptions {
  /** 1 (grey, mean of RGB) or 3 (RGB). Default 3. */
  channels?: 1 | 3;
}

export interface ImageFolder extends ImageDataset {
  readonly classes: string[];
}

/** Loads every .png under `dir` (one level of class folders, or flat). */
export async function imageFolder(dir: string, opts: ImageFolderOptions = {}): Promise<ImageFolder> {
  const channels = opts.channels ?? 3;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new DataFormatError(dir, `cannot read the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const classes = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const files: { path: string; label: number }[] = [];
  if (classes.length) {
    for (const [label, c] of classes.entries())
      for (const f of (await readdir(join(dir, c))).filter((n) => n.toLowerCase().endsWith('.png')).sort()) files.push({ path: join(dir, c, f), label });
  } else {
    for (const f of entries.filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.png')).map((e) => e.name).sort()) files.push({ path: join(dir, f), label: 0 });
  }
  if (!files.length) throw new DataFormatError(dir, 'no .png files found');
  if (classes.length > 256) throw new DataFormatError(dir, `${classes.length} class folders; at most 256 are supported`);
  let size: [number, number] | undefined;
  const images: Tensor[] = [];
  try {
    for (const f of files) {
      const png = decodePng(await readFile(f.path), f.path);
      if (!size) size = [png.height, png.width];
      else if (png.height !== size[0] || png.width !== size[1])
        throw new DataFormatError(f.path, `is ${png.width}×${png.height} but the first image is ${size[1]}×${size[0]}; all images must share one size`);
      images.push(
        tidy(() => {
          const hwc = fromBytes(png.data, [png.height, png.width, png.channels], 'uint8');
          const rgb = hwc.permute(2, 0, 1).slice(0, 0, 3);
          return (channels === 3 ? rgb.contiguous() : rgb.float().mean(0, { keepdim: true }).round().to('uint8')).unsqueeze(0);
        }),
      );
    }
    const all = cat(images, 0);
    const labels = fromBytes(new Uint8Array(files.map((f) => f.label)), [files.length], 'uint8');
    const out = new ImageDataset(all, labels.to('int64'), `images:${dir}`) as ImageFolder;
    labels.dispose();
    (out as { classes: string[] }).classes = classes;
    return out;
  } finally {
    for (const t of images) t.dispose();
  }
}

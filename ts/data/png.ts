// PNG images and grids (pngjs does the encoding). Grids are assembled natively from tensors.
import { upsampleNearest } from '../nn/functional.js';
import { writeFileAtomic } from '../io/atomic.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { pad } from '../tensor/creation.js';
import pngjs from 'pngjs';

const { PNG } = pngjs;

/** Encodes raw pixels: 1 (grey), 3 (RGB) or 4 (RGBA) channels, row-major HWC bytes. */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Buffer {
  if (pixels.length !== width * height * channels) throw new RangeError(`encodePng: ${pixels.length} bytes for ${width}×${height}×${channels}`);
  const colorType = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  const png = new PNG({ width, height, colorType, inputColorType: colorType, inputHasAlpha: channels === 4 } as ConstructorParameters<typeof PNG>[0]);
  png.data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.length);
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: channels === 4 } as Parameters<typeof PNG.sync.write>[1]);
}

export interface GridOptions {
  /** Images per row (default ⌈√N⌉). */
  nrow?: number;
  /** Pixels between images (default 2). */
  padding?: number;
  /** Pixel value of the padding, 0–255 (default 255: white). */
  padValue?: number;
  /** Nearest-neighbour upscaling of every image (default 1): 28-px images are hard to see. */
  scale?: number;
}

/**
 * A grid of images [N, C, H, W] (float in [−1, 1], or uint8) with C = 1 or 3, as PNG bytes.
 * Everything up to the PNG encoder runs as tensor ops.
 */
export function pngGrid(images: Tensor, opts: GridOptions = {}): Buffer {
  if (images.ndim !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3)) throw new RangeError(`pngGrid: expected [N, 1|3, H, W], got [${images.shape.join(', ')}]`);
  const scale = opts.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1) throw new RangeError(`pngGrid: scale must be a positive integer, got ${scale}`);
  const [n, c, h0, w0] = images.shape;
  const [h, w] = [h0 * scale, w0 * scale];
  const cols = opts.nrow ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const p = opts.padding ?? 2;
  const bytes = tidy(() => {
    let u8 = images.dtype === 'uint8' ? images.float() : images.add(1).mul(127.5).clamp(0, 255).round();
    if (scale > 1) u8 = upsampleNearest(u8, scale);
    if (rows * cols > n) u8 = pad(u8, [0, 0, 0, 0, 0, 0, 0, rows * cols - n], 'constant', opts.padValue ?? 255);
    // [R·C', C, H, W] → pad each image on the right/bottom → [R, C', C, H+p, W+p] → [C, R·(H+p), C'·(W+p)]
    const tiled = pad(u8, [0, p, 0, p], 'constant', opts.padValue ?? 255)
      .reshape(rows, cols, c, h + p, w + p)
      .permute(2, 0, 3, 1, 4)
      .reshape(c, rows * (h + p), cols * (w + p));
    const framed = pad(tiled, [p, 0, p, 0], 'constant', opts.padValue ?? 255); // top/left border
    return framed.permute(1, 2, 0).contiguous().to('uint8').toBytes();
  });
  return encodePng(bytes, cols * (w + p) + p, rows * (h + p) + p, c as 1 | 3);
}

/** Writes a PNG grid of images to `path` (atomically). */
export async function savePngGrid(path: string, images: Tensor, opts: GridOptions = {}): Promise<void> {
  await writeFileAtomic(path, [pngGrid(images, opts)]);
}

/** Decodes a PNG into HWC bytes (grey, RGB or RGBA as stored, 8-bit). */
export function decodePng(bytes: Uint8Array, where = 'png'): { width: number; height: number; channels: 1 | 3 | 4; data: Uint8Array } {
  let png: InstanceType<typeof PNG>;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (e) {
    throw new RangeError(`${where}: not a readable PNG (${(e as Error).message})`);
  }
  // pngjs always decodes to RGBA
  return { width: png.width, height: png.height, channels: 4, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
}

// IDX files (MNIST, Fashion-MNIST), gzipped or not. Errors name the file and the problem.
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';

export class DataFormatError extends Error {
  readonly code = 'ERR_DATA_FORMAT';
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'DataFormatError';
  }
}

export interface IdxArray {
  /** Dimensions, e.g. [60000, 28, 28] for images or [60000] for labels. */
  dims: number[];
  /** Unsigned bytes, row-major. */
  data: Uint8Array;
}

/** Reads an IDX file of unsigned bytes (type 0x08), the format of MNIST-style images and labels. */
export async function readIdx(path: string): Promise<IdxArray> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (e) {
    throw new DataFormatError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let buf: Buffer = raw;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      buf = gunzipSync(raw);
    } catch (e) {
      throw new DataFormatError(path, `corrupt gzip data (${(e as Error).message})`);
    }
  }
  if (buf.length < 4) throw new DataFormatError(path, `only ${buf.length} bytes; an IDX header needs at least 4`);
  if (buf[0] !== 0 || buf[1] !== 0) throw new DataFormatError(path, `bad magic number 0x${buf.subarray(0, 4).toString('hex')} (IDX files start with two zero bytes)`);
  if (buf[2] !== 0x08) throw new DataFormatError(path, `element type 0x${buf[2].toString(16)} is not unsigned byte (0x08)`);
  const ndim = buf[3];
  if (ndim < 1 || ndim > 4) throw new DataFormatError(path, `${ndim} dimensions; expected 1 to 4`);
  const headerLen = 4 + 4 * ndim;
  if (buf.length < headerLen) throw new DataFormatError(path, `truncated header (${buf.length} of ${headerLen} bytes)`);
  const dims = Array.from({ length: ndim }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length - headerLen !== count)
    throw new DataFormatError(path, `header says ${dims.join('×')} = ${count} bytes of data but the file holds ${buf.length - headerLen} (truncated or padded?)`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + headerLen, count) };
}

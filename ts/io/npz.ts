// NumPy .npy / .npz read and write, enough for interop with the standard FID tools (pytorch-fid's
// statistics files hold `mu` and `sigma`). An .npz is a zip of .npy entries: `np.savez` stores
// them, `np.savez_compressed` deflates them; both are read. Writing stores (no compression).
// Only little-endian float64/float32/int64/int32/uint8/bool arrays; anything else is a clear error.
import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { fromBytes } from '../tensor/creation.js';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';

export class NpyError extends Error {
  readonly code = 'ERR_NPY';
  constructor(where: string, problem: string) {
    super(`${where}: ${problem}`);
    this.name = 'NpyError';
  }
}

const DESCR_TO_DTYPE: Record<string, DType> = { '<f8': 'float64', '<f4': 'float32', '<i8': 'int64', '<i4': 'int32', '|u1': 'uint8', '<u1': 'uint8', '|b1': 'bool' };
const DTYPE_TO_DESCR: Partial<Record<DType, string>> = { float64: '<f8', float32: '<f4', int64: '<i8', int32: '<i4', uint8: '|u1', bool: '|b1' };
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Decodes one .npy array. Fortran-ordered arrays are returned in C order (transposed back). */
export function decodeNpy(bytes: Uint8Array, where = 'npy'): Tensor {
  const fail = (p: string): never => {
    throw new NpyError(where, p);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy array (bad magic)');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  if (major < 1 || major > 3) fail(`unsupported .npy version ${major}`);
  if (headerStart + headerLen > bytes.length) fail('header runs past the end of the data');
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(`unreadable header ${JSON.stringify(header.trim())}`);
  const dtype = DESCR_TO_DTYPE[descr!] ?? fail(`dtype ${descr} is not supported (little-endian f8, f4, i8, i4, u1, b1 are)`);
  const shape = shapeText!.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`bad shape (${shapeText})`);
  const item = { float64: 8, float32: 4, int64: 8, int32: 4, uint8: 1, bool: 1 }[dtype as 'float64'];
  const numel = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLen;
  if (bytes.length - dataStart !== numel * item) fail(`data holds ${bytes.length - dataStart} bytes, shape (${shape}) of ${descr} needs ${numel * item}`);
  const data = bytes.slice(dataStart);
  if (fortran === 'False') return fromBytes(data, shape, dtype);
  const reversed = fromBytes(data, [...shape].reverse(), dtype);
  const order = shape.map((_, i) => shape.length - 1 - i);
  const c = reversed.permute(order).contiguous();
  reversed.dispose();
  return c;
}

/** Encodes a tensor as a version-1.0 .npy (C order). */
export function encodeNpy(t: Tensor, where = 'npy'): Uint8Array {
  const descr = DTYPE_TO_DESCR[t.dtype] ?? (() => {
    throw new NpyError(where, `dtype ${t.dtype} has no .npy encoding here`);
  })();
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n'; // numpy pads the preamble to 64 bytes
  const h = new TextEncoder().encode(header);
  const data = t.cpu().contiguous().toBytes();
  const out = new Uint8Array(10 + h.length + data.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(h, 10);
  out.set(data, 10 + h.length);
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Reads the arrays of an .npz (keys without the `.npy` suffix). */
export function decodeNpz(bytes: Uint8Array, where = 'npz'): Map<string, Tensor> {
  const fail = (p: string): never => {
    throw new NpyError(where, p);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end-of-central-directory record sits in the last 22 + comment (≤ 65535) bytes.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('not a zip archive (no end-of-central-directory record)');
  const entries = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  const out = new Map<string, Tensor>();
  try {
    for (let e = 0; e < entries; e++) {
      if (p + 46 > bytes.length || view.getUint32(p, true) !== 0x02014b50) fail('corrupt central directory');
      const method = view.getUint16(p + 10, true);
      const crc = view.getUint32(p + 16, true);
      let csize = view.getUint32(p + 20, true);
      let usize = view.getUint32(p + 24, true);
      const nameLen = view.getUint16(p + 28, true);
      const extraLen = view.getUint16(p + 30, true);
      const commentLen = view.getUint16(p + 32, true);
      let local = view.getUint32(p + 42, true);
      const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
      // ZIP64: sizes/offset of 0xFFFFFFFF live in the extra field (id 1), in this order.
      for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen; ) {
        const id = view.getUint16(x, true);
        const len = view.getUint16(x + 2, true);
        if (id === 1) {
          let q = x + 4;
          const next = (): number => {
            const v = Number(view.getBigUint64(q, true));
            q += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = next();
          if (csize === 0xffffffff) csize = next();
          if (local === 0xffffffff) local = next();
        }
        x += 4 + len;
      }
      p += 46 + nameLen + extraLen + commentLen;
      if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) fail(`entry ${name}: bad local header`);
      const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      if (start + csize > bytes.length) fail(`entry ${name} runs past the end of the file`);
      const raw = bytes.subarray(start, start + csize);
      let data: Uint8Array;
      if (method === 0) data = raw;
      else if (method === 8) data = new Uint8Array(inflateRawSync(raw));
      else fail(`entry ${name}: compression method ${method} is not supported (stored or deflate are)`);
      if (data!.length !== usize || crc32(data!) !== crc) fail(`entry ${name}: size or CRC mismatch (corrupt file)`);
      out.set(name.replace(/\.npy$/, ''), decodeNpy(data!, `${where}: ${name}`));
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  return out;
}

/** Encodes arrays as an uncompressed .npz (as `np.savez`). */
export function encodeNpz(arrays: Record<string, Tensor>, where = 'npz'): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const [key, t] of Object.entries(arrays)) {
    const name = enc.encode(`${key}.npy`);
    const data = encodeNpy(t, `${where}: ${key}`);
    const crc = crc32(data);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true); // version needed
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    chunks.push(local, data);
    central.push(cd);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, central.length, true);
  ev.setUint16(10, central.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return [...chunks, ...central, end];
}

export async function readNpz(path: string): Promise<Map<string, Tensor>> {
  return decodeNpz(new Uint8Array(await readFile(path)), path);
}

export async function writeNpz(path: string, arrays: Record<string, Tensor>): Promise<void> {
  await writeFileAtomic(path, encodeNpz(arrays, path));
}

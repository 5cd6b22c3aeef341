// safetensors read/write with strict validation: a malformed or hostile file gives a clear error,
// never a crash or an over-read. Format: u64 LE header length N, N bytes of JSON header, data.
import { readFile } from 'node:fs/promises';
import { fromBytes } from '../tensor/creation.js';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';

const TO_DTYPE: Record<string, DType> = { F64: 'float64', F32: 'float32', BF16: 'bfloat16', F16: 'float16', I64: 'int64', I32: 'int32', U8: 'uint8', BOOL: 'bool' };
const FROM_DTYPE: Record<DType, string> = { float64: 'F64', float32: 'F32', bfloat16: 'BF16', float16: 'F16', int64: 'I64', int32: 'I32', uint8: 'U8', bool: 'BOOL' };
const ITEM: Record<string, number> = { F64: 8, F32: 4, BF16: 2, F16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1, I16: 2, I8: 1, U16: 2, U32: 4, U64: 8, F8_E4M3: 1, F8_E5M2: 1 };

/** Default upper bound on the JSON header (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  readonly code = 'ERR_SAFETENSORS';
  constructor(where: string, problem: string) {
    super(`${where}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

export interface TensorInfo {
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Offset of the data section in the file. */
  dataStart: number;
}

/** Parses and validates the header of a safetensors byte buffer. `where` names the file in errors. */
export function parseHeader(bytes: Uint8Array, where = 'safetensors', maxHeaderBytes = MAX_HEADER_BYTES): SafetensorsHeader {
  const fail = (p: string): never => {
    throw new SafetensorsError(where, p);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes; too short for the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(maxHeaderBytes)) fail(`header length ${n64} exceeds the limit of ${maxHeaderBytes} bytes`);
  const n = Number(n64);
  if (8 + n > bytes.length) fail(`header claims ${n} bytes but the file has only ${bytes.length - 8} after the length`);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) fail('__metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v as object)) if (typeof s !== 'string') fail(`__metadata__.${k} is not a string`);
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') fail(`entry '${name}' is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in ITEM)) fail(`entry '${name}' has an unknown dtype ${JSON.stringify(e.dtype)}`);
    const dt = e.dtype as string;
    if (!(dt in TO_DTYPE)) fail(`entry '${name}' has dtype ${dt}, which langevin does not load (${Object.keys(TO_DTYPE).join(', ')})`);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`entry '${name}' has a bad shape ${JSON.stringify(e.shape)}`);
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((o) => !Number.isSafeInteger(o) || o < 0)) fail(`entry '${name}' has bad data_offsets ${JSON.stringify(off)}`);
    const [begin, end] = off as number[];
    if (begin > end) fail(`entry '${name}' has data_offsets [${begin}, ${end}] with begin > end`);
    if (end > dataLen) fail(`entry '${name}' ends at byte ${end} but the data section has ${dataLen} bytes (truncated file?)`);
    const numel = shape.reduce((a, b) => a * b, 1);
    if (numel * ITEM[dt] !== end - begin) fail(`entry '${name}': ${dt} ${JSON.stringify(shape)} needs ${numel * ITEM[dt]} bytes but its offsets span ${end - begin}`);
    tensors.set(name, { dtype: TO_DTYPE[dt], shape, begin, end });
  }
  // The data section must be covered exactly: no overlaps, no holes.
  const spans = [...tensors.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let cursor = 0;
  for (const [name, t] of spans) {
    if (t.begin < cursor) fail(`entry '${name}' [${t.begin}, ${t.end}) overlaps the previous tensor (which ends at ${cursor})`);
    if (t.begin > cursor) fail(`bytes [${cursor}, ${t.begin}) of the data section belong to no tensor`);
    cursor = t.end;
  }
  if (cursor !== dataLen) fail(`the data section has ${dataLen - cursor} trailing bytes that belong to no tensor`);
  return { tensors, metadata, dataStart };
}

export interface Loaded {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Decodes a whole safetensors buffer into tensors (copies). */
export function decodeSafetensors(bytes: Uint8Array, where = 'safetensors', maxHeaderBytes?: number): Loaded {
  const h = parseHeader(bytes, where, maxHeaderBytes);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, t] of h.tensors) tensors.set(name, fromBytes(bytes.subarray(h.dataStart + t.begin, h.dataStart + t.end), t.shape, t.dtype));
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, metadata: h.metadata };
}

/** A JSON value stored in a metadata string (null when absent); a RangeError naming the file and key otherwise. */
export function metadataJson(metadata: Record<string, string>, key: string, where: string): unknown {
  try {
    return JSON.parse(metadata[key] ?? 'null');
  } catch {
    throw new RangeError(`${where}: metadata '${key}' is not JSON`);
  }
}

/** Reads a .safetensors file. */
export async function readSafetensors(path: string, opts: { maxHeaderBytes?: number } = {}): Promise<Loaded> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SafetensorsError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeSafetensors(bytes, path, opts.maxHeaderBytes);
}

/** Encodes tensors (in the given order) and string metadata as safetensors bytes. */
export function encodeSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new TypeError(`safetensors metadata '${k}' must be a string`);
    header.__metadata__ = metadata;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new RangeError('a tensor cannot be named __metadata__');
    const data = t.toBytes();
    header[name] = { dtype: FROM_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + data.length] };
    offset += data.length;
    chunks.push(data);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8); // data starts 8-aligned
  const head = Buffer.from(json, 'utf8');
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(head.length), true);
  return [len, head, ...chunks];
}

/** Writes a .safetensors file atomically. */
export async function writeSafetensors(path: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

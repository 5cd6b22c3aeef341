/** Element types. bfloat16/float16 on CPU are for storage and conversion (libtorch 1.13 has few Half CPU kernels). */
export type DType = 'float32' | 'float64' | 'bfloat16' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

/** Memory layout of a tensor: row-major, or NHWC strides for a 4-d [N, C, H, W] tensor. */
export type MemoryFormat = 'contiguous' | 'channelsLast';

/** 'cpu', 'cuda' or 'cuda:N'. */
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

export const dtypes: readonly DType[] = ['float32', 'float64', 'bfloat16', 'float16', 'int64', 'int32', 'uint8', 'bool'];

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'bfloat16' || d === 'float16';
}

/** Bytes per element. */
export function itemSize(d: DType): number {
  switch (d) {
    case 'float64':
    case 'int64':
      return 8;
    case 'float32':
    case 'int32':
      return 4;
    case 'bfloat16':
    case 'float16':
      return 2;
    default:
      return 1;
  }
}

/** The typed array a dtype's data comes back as (bfloat16/float16 as raw bits). */
export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : D extends 'bfloat16' | 'float16'
          ? Uint16Array
          : Uint8Array;

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint16Array | Uint8Array;

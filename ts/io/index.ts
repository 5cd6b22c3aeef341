export { readSafetensors, writeSafetensors, decodeSafetensors, encodeSafetensors, parseHeader, SafetensorsError, MAX_HEADER_BYTES, type Loaded, type TensorInfo } from './safetensors.js';
export { readNpz, writeNpz, decodeNpz, encodeNpz, decodeNpy, encodeNpy, NpyError } from './npz.js';
export { writeFileAtomic, writeFileAtomicSync } from './atomic.js';

"""A minimal safetensors reader/writer for the references (the format is small; no extra package)."""
import json
import struct

import numpy as np
import torch

DT = {'F64': torch.float64, 'F32': torch.float32, 'BF16': torch.bfloat16, 'F16': torch.float16,
      'I64': torch.int64, 'I32': torch.int32, 'U8': torch.uint8, 'BOOL': torch.bool}
NAME = {v: k for k, v in DT.items()}


def read(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop('__metadata__', {})
    out = {}
    base = 8 + n
    for name, e in header.items():
        b, en = e['data_offsets']
        buf = bytearray(data[base + b:base + en])
        t = torch.frombuffer(buf, dtype=DT[e['dtype']]) if en > b else torch.empty(0, dtype=DT[e['dtype']])
        out[name] = t.reshape(e['shape']).clone()
    return out, meta


def write(path, tensors, meta=None):
    header, chunks, off = {}, [], 0
    if meta:
        header['__metadata__'] = meta
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {'dtype': NAME[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        off += len(raw)
        chunks.append(raw)
    h = json.dumps(header, separators=(',', ':'))
    h += ' ' * ((8 - (len(h.encode()) + 8) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h.encode())))
        f.write(h.encode())
        for c in chunks:
            f.write(c)

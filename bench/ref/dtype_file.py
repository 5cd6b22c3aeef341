"""Writes a safetensors file of known values in every dtype langevin reads, with the system PyTorch's
own tensors, for the foreign-file test: /usr/bin/python3 bench/ref/dtype_file.py OUT.safetensors"""
import sys

import torch

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import safetensors_io  # noqa: E402

base = torch.arange(-6, 6, dtype=torch.float64).reshape(3, 4) / 4
tensors = {
    'f64': base, 'f32': base.float(), 'bf16': base.bfloat16(), 'f16': base.half(),
    'i64': (base * 4).long(), 'i32': (base * 4).int(), 'u8': (base * 4 + 6).to(torch.uint8), 'bool': base > 0,
    'empty': torch.zeros(0, 3), 'scalar': torch.tensor(2.5),
}
safetensors_io.write(sys.argv[1], tensors, {'writer': 'torch ' + torch.__version__})

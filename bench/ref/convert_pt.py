"""Converts a PyTorch checkpoint (.pt / .pth / .bin, zip or legacy pickle) to safetensors that
langevin loads, using the system PyTorch once:

  /usr/bin/python3 bench/ref/convert_pt.py IN.pt OUT.safetensors [--key model_state_dict] [--strip-prefix module.]

--key picks a sub-dict (JEM's official checkpoints keep the weights under "model_state_dict"; the
replay buffer under "replay_buffer" is left out). Non-tensor entries are skipped and listed.
"""
import argparse
import sys

import torch

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import safetensors_io  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('src')
    ap.add_argument('dst')
    ap.add_argument('--key', default=None, help='sub-dict holding the state dict')
    ap.add_argument('--strip-prefix', default='', help='prefix removed from every key (e.g. module.)')
    a = ap.parse_args()
    obj = torch.load(a.src, map_location='cpu')
    if a.key:
        obj = obj[a.key]
    elif isinstance(obj, dict) and 'state_dict' in obj and isinstance(obj['state_dict'], dict):
        obj = obj['state_dict']
    if hasattr(obj, 'state_dict'):
        obj = obj.state_dict()
    out, skipped = {}, []
    for k, v in obj.items():
        if not torch.is_tensor(v):
            skipped.append(k)
            continue
        name = k[len(a.strip_prefix):] if a.strip_prefix and k.startswith(a.strip_prefix) else k
        out[name] = v
    safetensors_io.write(a.dst, out, {'format': 'pt', 'converted_from': a.src.rsplit('/', 1)[-1]})
    print(f'{a.dst}: {len(out)} tensors' + (f'; skipped non-tensors: {", ".join(skipped)}' if skipped else ''))


if __name__ == '__main__':
    main()

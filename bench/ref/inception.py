"""The FID Inception-v3 reference: torchvision's Inception3 with the pytorch-fid changes (our own
code; the changes are described in ../shared/notes/metrics.md §1.1), random weights, for the
architecture test.

  inception.py reference IN.npz WEIGHTS.safetensors OUT.npz
    IN.npz holds image batches (uint8 0-255 or float in [-1, 1], 1 or 3 channels, any size).
    Writes random weights (torchvision's init with seed 0 — truncated normal σ 0.1 for conv and
    fc, BN γ 1, β 0 — then BatchNorm running statistics set by one training-mode pass over 4 random
    299×299 images, so activations keep a sane scale through 94 layers) and, for every input
    array K, K_pool [N, 2048] and K_logits [N, 1008] (pool3 · Wᵀ, no bias) computed as pytorch-fid
    does: [0, 1] → grey to RGB → bilinear 299 (align_corners=False) → 2x − 1 → the network.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models import inception as tv

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import safetensors_io  # noqa: E402


class FidA(tv.InceptionA):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
        return torch.cat([b1, b5, bd, bp], 1)


class FidC(tv.InceptionC):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for name in ['branch7x7dbl_1', 'branch7x7dbl_2', 'branch7x7dbl_3', 'branch7x7dbl_4', 'branch7x7dbl_5']:
            bd = getattr(self, name)(bd)
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
        return torch.cat([b1, b7, bd, bp], 1)


class FidE(tv.InceptionE):
    def __init__(self, in_channels, pool):
        super().__init__(in_channels)
        self.pool = pool

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == 'avg':
            p = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        else:
            p = F.max_pool2d(x, 3, 1, 1)
        return torch.cat([b1, b3, bd, self.branch_pool(p)], 1)


def build():
    """The architecture (weights as torchvision leaves them)."""
    net = tv.Inception3(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
    net.Mixed_5b = FidA(192, pool_features=32)
    net.Mixed_5c = FidA(256, pool_features=64)
    net.Mixed_5d = FidA(288, pool_features=64)
    net.Mixed_6b = FidC(768, channels_7x7=128)
    net.Mixed_6c = FidC(768, channels_7x7=160)
    net.Mixed_6d = FidC(768, channels_7x7=160)
    net.Mixed_6e = FidC(768, channels_7x7=192)
    net.Mixed_7b = FidE(1280, 'avg')
    net.Mixed_7c = FidE(2048, 'max')
    return net


def fid_inception():
    torch.manual_seed(0)
    net = build()
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.trunc_normal_(m.weight, mean=0.0, std=0.1, a=-2, b=2)
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.constant_(m.weight, 1)
            torch.nn.init.constant_(m.bias, 0)
            m.momentum = None  # cumulative average: one pass sets the statistics
            m.reset_running_stats()
    net.train()
    with torch.no_grad():
        net(torch.rand(4, 3, 299, 299) * 2 - 1)
    return net.eval()


def features(net, x):
    x = torch.from_numpy(x)
    x = x.float() / 255 if x.dtype == torch.uint8 else (x.float() + 1) / 2
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = F.interpolate(x, size=(299, 299), mode='bilinear', align_corners=False)
    x = 2 * x - 1
    n = net
    for name in ['Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'maxpool1', 'Conv2d_3b_1x1', 'Conv2d_4a_3x3', 'maxpool2',
                 'Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_6a', 'Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e',
                 'Mixed_7a', 'Mixed_7b', 'Mixed_7c', 'avgpool']:
        x = getattr(n, name)(x)
    pool = torch.flatten(x, 1)
    return pool, pool @ n.fc.weight.T


def reference(inp, weights, out):
    torch.set_num_threads(int(os.environ.get('REF_THREADS', '1')))
    net = fid_inception()
    safetensors_io.write(weights, {k: v.contiguous() for k, v in net.state_dict().items()})
    a = np.load(inp)
    res = {}
    with torch.no_grad():
        for k in a.files:
            pool, logits = features(net, a[k])
            res[k + '_pool'] = pool.numpy()
            res[k + '_logits'] = logits.numpy()
    np.savez(out, **res)
    print('{"out": "%s"}' % out)


if __name__ == '__main__':
    if len(sys.argv) == 5 and sys.argv[1] == 'reference':
        reference(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)

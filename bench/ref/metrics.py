"""Sample-quality metrics with numpy/scipy, as the standard tools compute them (the procedures are
described in ../shared/notes/metrics.md; this is our own code).

  metrics.py reference IN.npz OUT_DIR
    IN.npz: f1 [n1, d], f2 [n2, d] features, logits [N, C], kid1/kid2 [subsets, m] row indices.
    Prints JSON {mu1, fd, fd_eps, kid_mean, kid_std, kid_values, is_mean, is_std, is_splits};
    writes OUT_DIR/stats-plain.npz (np.savez) and OUT_DIR/stats-compressed.npz (np.savez_compressed)
    with mu/sigma of f1, for the reader's interop check.
"""
import json
import sys

import numpy as np
from scipy import linalg


def frechet(mu1, s1, mu2, s2, eps=1e-6):
    """pytorch-fid's procedure: scipy sqrtm of the product, ε only when it is not finite."""
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    used_eps = False
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
        used_eps = True
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError('imaginary component %g' % np.max(np.abs(covmean.imag)))
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)), used_eps


def mmd2_poly(x, y):
    d = x.shape[1]
    m = x.shape[0]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    sxx = kxx.sum() - np.trace(kxx)
    syy = kyy.sum() - np.trace(kyy)
    return float((sxx + syy) / (m * (m - 1)) - 2 * kxy.sum() / (m * m))


def inception_score(logits, splits=10):
    logits = logits.astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n = p.shape[0]
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        kl = part * (np.log(part) - np.log(np.mean(part, 0, keepdims=True)))
        scores.append(float(np.exp(np.mean(np.sum(kl, 1)))))
    return float(np.mean(scores)), float(np.std(scores)), scores


def reference(path, out_dir):
    a = np.load(path)
    f1, f2 = a['f1'].astype(np.float64), a['f2'].astype(np.float64)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    fd, used_eps = frechet(mu1, s1, mu2, s2)
    kid = [mmd2_poly(f1[i1], f2[i2]) for i1, i2 in zip(a['kid1'], a['kid2'])]
    is_mean, is_std, is_splits = inception_score(a['logits'])
    np.savez(out_dir + '/stats-plain.npz', mu=mu1, sigma=s1)
    np.savez_compressed(out_dir + '/stats-compressed.npz', mu=mu1, sigma=s1.astype(np.float32))
    json.dump({'mu1': mu1.tolist(), 'sigma1_trace': float(np.trace(s1)), 'fd': fd, 'fd_used_eps': used_eps,
               'kid_mean': float(np.mean(kid)), 'kid_std': float(np.std(kid)), 'kid_values': kid,
               'is_mean': is_mean, 'is_std': is_std, 'is_splits': is_splits}, sys.stdout)


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == 'reference':
        reference(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)

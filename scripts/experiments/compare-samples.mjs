// Per-pixel differences between two uint8 sample files drawn with the same seed (e.g. float32 vs
// bfloat16 compute): mean and max |Δ| in grey levels, the share of pixels off by more than 2 and 8
// levels, and the share of images whose mean |Δ| exceeds 2 levels (trajectories that diverged).
//   node scripts/experiments/compare-samples.mjs A.safetensors B.safetensors
import { io } from '../../dist/index.js';

const [a, b] = await Promise.all(process.argv.slice(2, 4).map(async (f) => (await io.readSafetensors(f)).tensors.get('samples')));
if (!a || !b || a.shape.join() !== b.shape.join()) throw new Error('give two sample files of one shape (langevin ddpm sample --out X.safetensors)');
const d = a.to('float32').sub(b.to('float32')).abs();
const perImage = d.mean([1, 2, 3]).toFloat32Array();
const share = (t) => d.gt(t).to('float32').mean().item();
console.log(JSON.stringify({
  images: a.shape[0],
  meanAbs: d.mean().item(),
  maxAbs: d.max().item(),
  shareOver2: share(2),
  shareOver8: share(8),
  imagesMeanOver2: perImage.filter((v) => v > 2).length / perImage.length,
}));

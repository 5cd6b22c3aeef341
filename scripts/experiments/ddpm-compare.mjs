#!/usr/bin/env node
// Compares a langevin DDPM run with PyTorch reference runs of the same config and seed policy
// (bench/ref/diffusion.py train): the mean loss over the last 20% of steps against the spread of
// the references, the per-step agreement with the same-seed reference, and a loss-curve plot.
//   node scripts/experiments/ddpm-compare.mjs OUT_DIR LANGEVIN_RUN REF_RUN...
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { train } from '../../dist/index.js';

const [out, mine, ...refs] = process.argv.slice(2);
if (!out || !mine || !refs.length) throw new Error('usage: ddpm-compare.mjs OUT_DIR LANGEVIN_RUN REF_RUN...');
const read = (dir) => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => typeof r.loss === 'number');
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1));
const tail = (recs) => {
  const n = recs.at(-1).step;
  return mean(recs.filter((r) => r.step > 0.8 * n).map((r) => r.loss));
};
const smooth = (ys, k = 50) => ys.map((_, i) => mean(ys.slice(Math.max(0, i - k + 1), i + 1)));

const a = read(mine);
const rs = refs.map(read);
const steps = a.at(-1).step;
for (const [i, r] of rs.entries()) if (r.at(-1).step !== steps) throw new Error(`${refs[i]} ran ${r.at(-1).step} steps, langevin ${steps}`);
const refTails = rs.map(tail);
const mu = mean(refTails);
const sigma = std(refTails);
const mineTail = tail(a);
// The same-seed reference draws the same data order, flips, t and ε from the same initial weights.
const same = rs[refs.findIndex((d) => /s0$|seed-?0$/.test(d))] ?? rs[0];
let identical = 0;
let maxRel = 0;
for (let i = 0; i < steps; i++) {
  if (a[i].loss === same[i].loss) identical++;
  maxRel = Math.max(maxRel, Math.abs(a[i].loss - same[i].loss) / Math.abs(same[i].loss));
}
const evalOf = (recs) => recs.filter((r) => r.eval).map((r) => ({ step: r.step, loss: r.eval.loss, emaLoss: r.eval.emaLoss }));
const summary = {
  steps,
  lastFraction: 0.2,
  langevinTailLoss: mineTail,
  referenceTailLosses: Object.fromEntries(refs.map((d, i) => [basename(d), refTails[i]])),
  referenceMean: mu,
  referenceStd: sigma,
  zScore: (mineTail - mu) / sigma,
  matches: Math.abs(mineTail - mu) <= 2 * sigma,
  sameSeedReference: { identicalSteps: identical, maxRelativeDifference: maxRel },
  validation: { langevin: evalOf(a), ...Object.fromEntries(refs.map((d, i) => [basename(d), evalOf(rs[i])])) },
};
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'compare.json'), JSON.stringify(summary, null, 2) + '\n');
const palette = [[214, 39, 40], [120, 120, 120], [160, 160, 160], [190, 190, 190]];
// References first, langevin on top (it hides the same-seed reference when they are identical).
await train.savePlot(join(out, 'loss.png'), [
  ...rs.map((r, i) => ({ name: `torch ${basename(refs[i]).replace(/^.*-/, '')}`, x: r.map((q) => q.step), y: smooth(r.map((q) => q.loss)), color: palette[i + 1] ?? palette[3] })),
  { name: 'langevin', x: a.map((r) => r.step), y: smooth(a.map((r) => r.loss)), color: [31, 119, 180] },
], { title: 'ddpmTiny on Fashion-MNIST', xLabel: 'step', yLabel: 'eps-MSE, 50-step mean', logY: true });
console.log(JSON.stringify({ ...summary, validation: undefined }, null, 2));

#!/usr/bin/env node
// Does mixed-precision (bf16 compute) DDPM training track float32 training? Compares a bf16 run
// with the float32 run of the same seed (same data order, flips, t and ε) and with the spread of the
// three PyTorch float32 seeds recorded in compare.json: tail loss (last 20% of steps), validation
// losses (raw and EMA) at each evaluation, and the per-step loss ratio. Prints JSON.
//   node scripts/experiments/bf16-training-compare.mjs BF16_RUN FP32_LOG.jsonl COMPARE.json
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [bf16Run, fp32Log, compareFile] = process.argv.slice(2);
if (!bf16Run || !fp32Log || !compareFile) throw new Error('usage: bf16-training-compare.mjs BF16_RUN FP32_LOG.jsonl COMPARE.json');
const read = (file) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => typeof r.loss === 'number');
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const tail = (recs) => mean(recs.filter((r) => r.step > 0.8 * recs.at(-1).step).map((r) => r.loss));
const evals = (recs) => recs.filter((r) => r.eval).map((r) => ({ step: r.step, loss: r.eval.loss, emaLoss: r.eval.emaLoss }));

const b = read(join(bf16Run, 'log.jsonl'));
const f = read(fp32Log);
if (b.at(-1).step !== f.at(-1).step) throw new Error(`bf16 ran ${b.at(-1).step} steps, float32 ${f.at(-1).step}`);
const ref = JSON.parse(readFileSync(compareFile, 'utf8'));
const refTails = Object.values(ref.referenceTailLosses);
const mu = mean(refTails);
const sigma = Math.sqrt(refTails.reduce((a, x) => a + (x - mu) ** 2, 0) / (refTails.length - 1));
const ratios = b.map((r, i) => r.loss / f[i].loss);
const fe = evals(f);
console.log(JSON.stringify({
  steps: b.at(-1).step,
  tailLoss: { bfloat16: tail(b), float32: tail(f), pytorchFloat32Seeds: refTails, zScoreBf16: (tail(b) - mu) / sigma, zScoreFloat32: (tail(f) - mu) / sigma },
  perStepLossRatio: { first: ratios[0], median: [...ratios].sort((x, y) => x - y)[ratios.length >> 1], min: Math.min(...ratios), max: Math.max(...ratios) },
  validation: evals(b).map((e) => ({ ...e, float32: fe.find((x) => x.step === e.step) })),
  stepsPerSec: { bfloat16: mean(b.slice(-100).map((r) => r.stepsPerSec)), float32: mean(f.slice(-100).map((r) => r.stepsPerSec)) },
}, null, 2));

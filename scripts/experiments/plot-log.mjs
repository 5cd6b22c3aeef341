#!/usr/bin/env node
// Plots a trainer's log.jsonl: the loss (raw and a 50-step moving average) and, when present,
// validation accuracy.   node scripts/experiments/plot-log.mjs runDir [title]
import { readFileSync } from 'node:fs';
import { train } from '../../dist/index.js';

const dir = process.argv[2];
const title = process.argv[3] ?? 'training loss';
const recs = readFileSync(`${dir}/log.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => typeof r.loss === 'number');
const steps = recs.map((r) => r.step);
const loss = recs.map((r) => r.loss);
const avg = loss.map((_, i) => {
  const w = loss.slice(Math.max(0, i - 49), i + 1);
  return w.reduce((a, b) => a + b, 0) / w.length;
});
await train.savePlot(`${dir}/loss.png`, [
  { name: 'loss', x: steps, y: loss, color: [190, 200, 230] },
  { name: 'mean of 50', x: steps, y: avg, color: [31, 119, 180] },
], { title, xLabel: 'step', yLabel: 'cross-entropy', logY: true });
const evals = recs.filter((r) => r.eval);
if (evals.length) {
  await train.savePlot(`${dir}/valid-accuracy.png`, [{ name: 'valid acc', x: evals.map((r) => r.step), y: evals.map((r) => 100 * r.eval.accuracy), points: true }], { title: 'validation accuracy', xLabel: 'step', yLabel: 'accuracy %' });
}
console.log(`wrote ${dir}/loss.png${evals.length ? ` and ${dir}/valid-accuracy.png` : ''}`);

#!/usr/bin/env node
// A plain cross-entropy WRN on Fashion-MNIST with the classifier trainer (CPU).
//   node scripts/experiments/fmnist-classifier.mjs [outDir] [steps] [threads]
// Writes outDir/{config.json, log.jsonl, latest.safetensors, best.safetensors, summary.json}.
import { data, nn, setNumThreads, train, buildInfo, Generator } from '../../dist/index.js';

const out = process.argv[2] ?? 'artifacts/fmnist-wrn10-2-classifier';
const steps = Number(process.argv[3] ?? 4000);
setNumThreads(Number(process.argv[4] ?? 2));
const t0 = performance.now();
const all = await data.fashionMnist({ split: 'train' });
const [trainSet, valid] = all.split(5000, new Generator(0));
const test = await data.fashionMnist({ split: 'test' });
const model = nn.wideResNet('wrn10-2', { generator: new Generator(0) });
const ac = new AbortController();
process.once('SIGINT', () => ac.abort());
// Recipe: Adam 2e-3, 200 warmup steps, cosine decay to 0, horizontal flips. (A first run with a
// constant 1e-3 and flip + pad-2 crops reached 85.9% test accuracy in 14 minutes.)
const lr = 2e-3;
const schedule = train.linearWarmup(lr, 200, train.cosine(lr, steps));
let last;
for await (const r of train.trainClassifier(model, { train: trainSet, valid, steps, batchSize: 64, lr, schedule, seed: 0, dir: out, resume: true, checkpointEvery: 500, evalEvery: 500, signal: ac.signal, augment: { flip: true } })) {
  last = r;
  if (r.step % 50 === 0 || r.eval) process.stdout.write(`step ${r.step}/${steps} loss ${r.loss.toFixed(4)} ${r.stepsPerSec.toFixed(2)} it/s eta ${(r.eta / 60).toFixed(1)} min${r.eval ? ` valid acc ${(r.eval.accuracy * 100).toFixed(2)}%` : ''}\n`);
}
// evaluate the best-validation checkpoint on the test set
const best = nn.wideResNet('wrn10-2');
await train.loadCheckpoint(`${out}/best.safetensors`, { model: best });
const testEval = train.evaluateClassifier(best, test);
const summary = { model: 'wrn10-2 (norm none)', recipe: 'Adam 2e-3, warmup 200, cosine to 0, batch 64, flip', bestValidAccuracy: Math.max(...[last?.eval?.accuracy ?? 0]), steps: last?.step, trainSize: trainSet.size, valid: valid.size, testAccuracy: testEval.accuracy, testNll: testEval.nll, wallMinutes: (performance.now() - t0) / 60000, threads: buildInfo().threads, libtorch: buildInfo().libtorch, command: `node scripts/experiments/fmnist-classifier.mjs ${out} ${steps}` };
const { writeFileSync } = await import('node:fs');
writeFileSync(`${out}/summary.json`, JSON.stringify(summary, null, 2) + '\n');
console.log(summary);

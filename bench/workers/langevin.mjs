// langevin side of bench/run.mjs: reads {cmd} lines on stdin, answers one JSON line each.
import { createInterface } from 'node:readline';
import { setCudaOptions, setNumThreads } from '../../dist/index.js';
import { rows } from '../rows.mjs';

const threads = Number(process.argv[2] ?? 1);
setNumThreads(threads);
// On CUDA both sides autotune cuDNN and allow TF32 (bench/ref/worker.py sets the same).
if ((process.env.LANGEVIN_BENCH_DEVICE ?? 'cpu') !== 'cpu') setCudaOptions({ benchmark: true, tf32: true });

/** Rows may be async (whole jobs on a worker thread); sync rows pay no extra tick. */
async function settle(r) {
  if (r && typeof r.then === 'function') await r;
}

function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function run(name, iters, warmup, minMs = 0) {
  const row = rows[name];
  if (!row) throw new Error(`unknown row ${name}`);
  const state = row.setup();
  try {
    const w0 = performance.now();
    for (let i = 0; i < warmup; i++) await settle(row.step(state));
    // enough timed iterations to fill minMs (short ops would otherwise be a handful of samples)
    const per = (performance.now() - w0) / Math.max(warmup, 1);
    if (warmup > 0) iters = Math.max(iters, Math.min(10_000, Math.ceil(minMs / Math.max(per, 1e-3)))); // no warmup: no estimate
    const times = [];
    const c0 = cpuMs();
    const t0all = performance.now();
    for (let i = 0; i < iters; i++) {
      const t0 = performance.now();
      await settle(row.step(state));
      times.push(performance.now() - t0);
    }
    const wall = performance.now() - t0all;
    return { times, share: (cpuMs() - c0) / (wall * threads) };
  } finally {
    row.teardown?.(state);
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line);
  try {
    if (msg.cmd === 'rows') {
      // A row belongs to each of its space-separated groups; `ref` names its PyTorch twin when that
      // is not its namesake.
      const names = Object.keys(rows).filter((n) => msg.group === 'all' || msg.group.split(',').some((g) => n === g || rows[n].group.split(' ').includes(g)));
      const refs = Object.fromEntries(names.map((n) => [n, rows[n].ref ?? n]));
      process.stdout.write(JSON.stringify({ rows: names, refs }) + '\n');
    } else {
      process.stdout.write(JSON.stringify(await run(msg.row, msg.iters, msg.warmup, msg.minMs)) + '\n');
    }
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e?.message ?? e) }) + '\n');
  }
}

#!/usr/bin/env node
// Benchmark harness: langevin vs the PyTorch reference, interleaved in one invocation.
//
// For each thread count, one long-lived worker per side is started (libtorch loads once). For each
// row, pairs alternate the order (L,P then P,L …); each side runs warm-up iterations, then timed
// iterations, and reports per-iteration wall times and its CPU share = CPU time ÷ (wall × threads).
// Pairs where either side's share is below --min-share are discarded and counted.
//
// Both sides get the same glibc malloc settings (langevin sets M_MMAP_THRESHOLD 32 MB and
// M_TRIM_THRESHOLD 64 MB itself; the python side gets them through MALLOC_*_ variables) — with
// glibc's defaults PyTorch pays ~2,000 page faults per 3×3 conv at 128ch@32² (~20% of its time).
// --python-malloc default leaves python on glibc's defaults instead.
//
//   node bench/run.mjs [--rows a,b] [--threads 1,2] [--pairs 5] [--iters 10] [--min-ms 300] [--device cpu|cuda] [--json out.json]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import os from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: 'ops' },
    threads: { type: 'string', default: '1,2' },
    pairs: { type: 'string', default: '5' },
    iters: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'min-share': { type: 'string', default: '0.9' },
    json: { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'python-malloc': { type: 'string', default: 'matched' },
    'min-ms': { type: 'string', default: '300' },
    // The device of the device-aware rows (groups speed, speed-cuda): both workers get it.
    device: { type: 'string', default: 'cpu' },
  },
});

class Worker {
  constructor(cmd, args, name, env = process.env) {
    this.name = name;
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env });
    this.lines = createInterface({ input: this.proc.stdout });
    this.waiting = [];
    this.dead = undefined;
    this.lines.on('line', (l) => this.waiting.shift()?.line(l));
    // A worker that dies (a failed import, a crash) fails the pending request instead of hanging
    // the run until an outer timeout.
    const die = (why) => {
      this.dead = new Error(`${this.name} worker ${why}`);
      for (const w of this.waiting.splice(0)) w.fail(this.dead);
    };
    this.proc.on('error', (e) => die(`could not start: ${e.message}`));
    this.proc.stdin.on('error', () => {}); // EPIPE after a death: the exit handler reports it
    // 'close' (not 'exit'): stdout is drained by then, so a reply written just before dying is read.
    this.proc.on('close', (code, signal) => die(`exited (${signal ?? `code ${code}`})`));
  }
  ask(msg) {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(this.dead);
      this.waiting.push({
        line: (l) => {
          const r = JSON.parse(l);
          if (r.error) reject(new Error(`${this.name}: ${r.error}`));
          else resolve(r);
        },
        fail: reject,
      });
      this.proc.stdin.write(JSON.stringify(msg) + '\n');
    });
  }
  close() {
    this.proc.stdin.end();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const threadCounts = values.threads.split(',').map(Number);
const pairs = Number(values.pairs);
const minShare = Number(values['min-share']);
const results = [];
for (const threads of threadCounts) {
  const env = { ...process.env, LANGEVIN_BENCH_DEVICE: values.device };
  const L = new Worker(process.execPath, [join(here, 'workers', 'langevin.mjs'), String(threads)], 'langevin', env);
  const pyEnv = values['python-malloc'] === 'default' ? env : { ...env, MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(64 << 20) };
  const P = new Worker(values.python, [join(here, 'ref', 'worker.py'), String(threads)], 'pytorch', pyEnv);
  const { rows: rowsL, refs } = await L.ask({ cmd: 'rows', group: values.rows });
  for (const row of rowsL) {
    const kept = { langevin: [], pytorch: [] };
    let discarded = 0;
    for (let p = 0; p < pairs; p++) {
      const msg = { cmd: 'run', row, iters: Number(values.iters), warmup: Number(values.warmup), minMs: Number(values['min-ms']) };
      const order = p % 2 === 0 ? [L, P] : [P, L];
      const out = {};
      for (const w of order) out[w.name] = await w.ask(w === P ? { ...msg, row: refs[row] } : msg);
      const shares = [out.langevin.share, out.pytorch.share];
      if (shares.some((s) => s < minShare)) {
        discarded++;
        continue;
      }
      kept.langevin.push(out.langevin);
      kept.pytorch.push(out.pytorch);
    }
    const summary = (side) => {
      const meds = kept[side].map((r) => median(r.times));
      return meds.length ? { median: median(meds), min: Math.min(...meds), max: Math.max(...meds), share: median(kept[side].map((r) => r.share)) } : null;
    };
    const r = { row, ref: refs[row], threads, pairs, kept: kept.langevin.length, discarded, langevin: summary('langevin'), pytorch: summary('pytorch') };
    r.ratio = r.langevin && r.pytorch ? r.langevin.median / r.pytorch.median : null;
    results.push(r);
    const f = (s) => (s ? `${s.median.toFixed(3)} ms [${s.min.toFixed(3)}–${s.max.toFixed(3)}] share ${s.share.toFixed(2)}` : 'n/a');
    console.error(`${row} @${threads}t: langevin ${f(r.langevin)} | pytorch ${f(r.pytorch)} | ratio ${r.ratio?.toFixed(3) ?? 'n/a'} (${r.kept} kept, ${discarded} discarded)`);
  }
  L.close();
  P.close();
}

console.log(`\n| row | threads | langevin ms (median [min–max]) | PyTorch ms (median [min–max]) | ratio | pairs kept/discarded |`);
console.log(`|---|---|---|---|---|---|`);
for (const r of results) {
  const f = (s) => (s ? `${s.median.toFixed(3)} [${s.min.toFixed(3)}–${s.max.toFixed(3)}]` : 'n/a');
  console.log(`| ${r.row} | ${r.threads} | ${f(r.langevin)} | ${f(r.pytorch)} | ${r.ratio ? r.ratio.toFixed(3) + '×' : 'n/a'} | ${r.kept}/${r.discarded} |`);
}
if (values.json) {
  const meta = { date: new Date().toISOString(), host: os.hostname(), cpus: os.cpus()[0]?.model, cores: os.cpus().length, load: os.loadavg(), args: values };
  writeFileSync(values.json, JSON.stringify({ meta, results }, null, 2));
}

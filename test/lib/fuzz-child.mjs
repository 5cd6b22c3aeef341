// Calls the raw binding surface with randomly malformed arguments. Every call must either return
// or throw a JS Error; the process must exit normally. Prints a JSON summary on stdout.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const n = require(process.argv[2]);
const calls = Number(process.argv[3] ?? 10000);

let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];

n.setAllocationLimit(64 << 20); // absurd-but-allocatable sizes must fail fast, not thrash
const skip = new Set(['setNumThreads', 'setAllocationLimit', 'NativeGenerator']);
const fns = Object.keys(n).filter((k) => typeof n[k] === 'function' && !skip.has(k));

const tensors = () => [
  n.full([2, 3], 1.5), n.full([4], -2, 'float64'), n.full([1, 3, 4, 4], 0.5), n.full([2], 3, 'int64'), n.full([3], 1, 'bool'),
  n.full([], 2), n.full([0, 3], 0), n.full([2, 2], 1, 'bfloat16'), n.full([2], 1, 'float16'), n.full([5, 5], 1, 'uint8'),
];
const disposed = n.full([2], 1);
n.dispose(disposed);
const numbers = [0, -1, 1, 2, 3, 1.5, -0, NaN, Infinity, -Infinity, 1e18, -1e18, 2 ** 31, 2 ** 53, 1e-300, 7];
const strings = ['', 'float32', 'int64', 'bfloat16', 'cuda', 'cuda:99', 'cpu', 'bogus', 'add', 'exp', 'sum', 'mean', 'reflect', 'constant', 'none'];
function value(pool) {
  switch (Math.floor(rand() * 12)) {
    case 0: return pick(numbers);
    case 1: return pick(strings);
    case 2: return pick([true, false, null, undefined]);
    case 3: return pick(pool);
    case 4: return disposed;
    case 5: return Array.from({ length: Math.floor(rand() * 5) }, () => pick(numbers));
    case 6: return Array.from({ length: Math.floor(rand() * 4) }, () => pick(pool));
    case 7: return pick([new Float32Array(6), new Float64Array(4), new Uint8Array(3), new Uint16Array(2), new BigInt64Array(2), new Int32Array(1), new Int8Array(2)]);
    case 8: return pick([{}, [], { onProgress: 5 }, { steps: -1 }, { steps: 1e12 }, { progressEvery: 0 }, () => 1, Symbol('s'), 10n]);
    case 9: return Array.from({ length: Math.floor(rand() * 3) }, () => Math.floor(rand() * 4));
    case 10: return pick([[2, 3], [6], [1, 1, 2, 3], [-1, 6], [3, -2], [1e9, 1e9], [0]]);
    default: return pick(pool);
  }
}

const counts = { calls: 0, returned: 0, threw: 0, nonError: 0, byName: {} };
let pool = tensors();
for (let i = 0; i < calls; i++) {
  if (i % 200 === 0) { for (const t of pool) try { n.dispose(t); } catch { /* busy in a cancelled job: GC frees it */ } pool = tensors(); }
  const name = pick(fns);
  const args = Array.from({ length: Math.floor(rand() * 7) }, () => value(pool));
  // Bias towards near-valid calls so checks past the first argument are reached too.
  const r0 = rand();
  if (r0 < 0.4) args[0] = pick(pool);
  else if (r0 < 0.55) args[0] = pick([[2, 3], [4], [1, 3, 4, 4], [], [0]]);
  else if (r0 < 0.7) { args[0] = pick(strings); args[1] = pick(pool); }
  if (rand() < 0.3) args[1] = pick(pool);
  counts.calls++;
  try {
    const r = n[name](...args);
    counts.returned++;
    if (r && typeof r.cancel === 'function') { r.cancel(); r.promise.catch(() => {}); }
  } catch (e) {
    counts.threw++;
    if (!(e instanceof Error)) counts.nonError++;
    const k = e instanceof Error ? e.name : typeof e;
    counts.byName[k] = (counts.byName[k] ?? 0) + 1;
  }
}
// malformed `new` calls on the constructors
for (const a of [[], [-1], ['x'], [NaN], [2 ** 60]]) {
  counts.calls++;
  try { new n.NativeGenerator(...a); counts.returned++; } catch (e) { counts.threw++; if (!(e instanceof Error)) counts.nonError++; }
}
try { const t = new n.NativeTensor(); n.unary('exp', t); } catch (e) { counts.threw++; counts.calls++; if (!(e instanceof Error)) counts.nonError++; }
process.stdout.write(JSON.stringify(counts));

// `langevin metrics fd | kid | is | stats` over samples, data sets and saved statistics.
import { parseArgs } from 'node:util';
import { extname } from 'node:path';
import { DATA_SPECS, openDataset } from '../data/spec.js';
import type { ImageDataset } from '../data/dataset.js';
import { readSafetensors } from '../io/safetensors.js';
import { type Tensor } from '../tensor/index.js';
import { frechetDistance } from '../metrics/frechet.js';
import { kernelInceptionDistance } from '../metrics/kid.js';
import { inceptionScore } from '../metrics/inception-score.js';
import { STATS_FORMAT, disposeMoments, loadMoments, momentsFromTensors, saveMoments, type FeatureMoments } from '../metrics/stats.js';
import { FMNIST_FEATURE_NET, datasetImages, extractFeatures, openFeatureNetwork, openInceptionNetwork, tensorImages, type FeatureNetwork, type ImageBatches } from '../metrics/features.js';
import { progressLine } from './progress.js';
import { common, num, threads } from './args.js';

type Log = (s: string) => void;

export const metricsUsage = `langevin metrics <fd|kid|is|stats> [options]

Scores samples with the offline domain metric FD-FMNIST: the penultimate 128-d features of the
Fashion-MNIST WRN-10-2 classifier shipped in ${FMNIST_FEATURE_NET.file}
(test accuracy ${(FMNIST_FEATURE_NET.testAccuracy * 100).toFixed(2)}%). It is not FID, and its numbers are not comparable with FIDs.

fd A B          Fréchet distance between the features of two sources (B is usually fashion-mnist@test)
kid A B         KID: unbiased MMD², cubic kernel, --subsets (100) of min(n, 1000)
is A            the Inception-Score formula over the classifier's 10 classes (IS-FMNIST, at most 10)
stats A --out F statistics (mean, covariance) of a source as .safetensors, or .npz as pytorch-fid

Sources:
  SAMPLES.safetensors   images saved by \`ddpm sample --out X.safetensors\` / \`jem sample --out X.safetensors\`
  CHECKPOINT.safetensors  a JEM checkpoint: its replay buffer's samples
  STATS.safetensors|.npz  statistics from \`metrics stats\` (fd only)
  DATA[@train|@test]    ${DATA_SPECS} (default split: test)

Options:
  --count N             images per source (default all; a data set gives a seeded random subset)
  --no-floor            skip the data floor. By default, when B is a data set's test split, the same
                        score between --count training images and B is printed beside the score
  --network FILE        another WRN classifier's features (the score is then called FD-custom)
  --inception FILE      FID / KID / IS with the FID Inception-v3 instead: FILE is the safetensors
                        conversion of pytorch-fid's pt_inception-2015-12-05-6726825d.pth
                        (/usr/bin/python3 bench/ref/convert_pt.py IN.pth OUT.safetensors)
  --subsets N           KID subsets (default 100); --splits N: IS splits (default 10)
  --batch N (250), --seed N (subset draws, 0), --threads N, --json`;

export async function runMetrics(argv: string[], log: Log, signal: AbortSignal): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    log(metricsUsage + '\n');
    return sub ? 0 : 1;
  }
  if (!['fd', 'kid', 'is', 'stats'].includes(sub)) throw new RangeError(`unknown metrics command '${sub}' (fd, kid, is, stats)`);
  const { values: v, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: {
      ...common, count: { type: 'string' }, 'no-floor': { type: 'boolean' }, network: { type: 'string' }, inception: { type: 'string' }, subsets: { type: 'string' },
      splits: { type: 'string' }, batch: { type: 'string' }, json: { type: 'boolean' }, out: { type: 'string' },
    },
  });
  if (v.help) return log(metricsUsage + '\n'), 0;
  const want = sub === 'fd' || sub === 'kid' ? 2 : 1;
  if (positionals.length !== want) throw new RangeError(`metrics ${sub}: give ${want === 2 ? 'two sources (e.g. samples.safetensors fashion-mnist@test)' : 'one source'}`);
  if (sub === 'stats' && !v.out) throw new RangeError('metrics stats: --out FILE.safetensors|FILE.npz is required');
  threads(v.threads);
  const o: Opts = {
    count: num(v.count, 'count', { int: true, min: 2 }),
    batch: num(v.batch, 'batch', { int: true, min: 1 }) ?? 250,
    seed: num(v.seed, 'seed', { int: true, min: 0 }) ?? 0,
    signal,
  };
  const subsets = num(v.subsets, 'subsets', { int: true, min: 1 }) ?? 100;
  const splits = num(v.splits, 'splits', { int: true, min: 1 }) ?? 10;
  if (v.network && v.inception) throw new RangeError('metrics: give --network or --inception, not both');
  const net = v.inception ? await openInceptionNetwork(v.inception) : await openFeatureNetwork(v.network);
  try {
    const result: Record<string, unknown> = { metric: sub === 'fd' ? net.metric : sub === 'kid' ? net.metric.replace(/^F(I)?D/, 'KID') : sub === 'is' ? net.isMetric : 'stats', network: { file: net.file, sha256: net.sha256 } };
    if (sub === 'stats') {
      const a = await features(net, positionals[0], o, {});
      await saveMoments(v.out!, a.moments);
      result.count = a.count;
      result.out = v.out;
      disposeMoments(a.moments);
    } else if (sub === 'is') {
      const a = await features(net, positionals[0], o, { logits: true });
      const s = inceptionScore(a.logits!, { splits });
      Object.assign(result, { source: positionals[0], count: a.count, mean: s.mean, std: s.std, splits: s.splits });
      a.logits!.dispose();
      disposeMoments(a.moments);
      if (!v['no-floor'] && net.isMetric === 'IS-FMNIST') {
        // What real data scores: the test split, same count.
        const d = await features(net, 'fashion-mnist@test', { ...o, count: a.count }, { logits: true });
        const ds = inceptionScore(d.logits!, { splits });
        result.data = { source: `${d.count} images of fashion-mnist@test`, mean: ds.mean, std: ds.std };
        d.logits!.dispose();
        disposeMoments(d.moments);
      }
    } else {
      const score = async (x: string, y: string, countX = o.count): Promise<{ value: number; std?: number; n: [number, number] }> => {
        if (sub === 'fd') {
          const a = await momentsOf(net, x, { ...o, count: countX });
          const b = await momentsOf(net, y, o);
          try {
            return { value: frechetDistance(a, b), n: [a.count, b.count] };
          } finally {
            disposeMoments(a);
            disposeMoments(b);
          }
        }
        const a = await features(net, x, { ...o, count: countX }, { features: true });
        const b = await features(net, y, o, { features: true });
        try {
          const k = kernelInceptionDistance(a.features!, b.features!, { subsets, seed: o.seed });
          return { value: k.mean, std: k.std, n: [a.count, b.count] };
        } finally {
          for (const e of [a, b]) {
            e.features!.dispose();
            disposeMoments(e.moments);
          }
        }
      };
      const [A, B] = positionals;
      const s = await score(A, B);
      Object.assign(result, { a: A, b: B, n: s.n, value: s.value, std: s.std });
      const testSplit = /@test$/.test(B) || (!B.includes('@') && isDataSpec(B));
      if (!v['no-floor'] && testSplit) {
        const trainSpec = `${B.replace(/@test$/, '')}@train`;
        const f = await score(trainSpec, B, s.n[0]);
        result.floor = { a: `${s.n[0]} images of ${trainSpec}`, value: f.value, std: f.std };
      }
    }
    if (v.json) log(JSON.stringify(result, null, 2) + '\n');
    else log(describe(result) + '\n');
    return 0;
  } finally {
    net.dispose();
  }
}

interface Opts {
  count?: number;
  batch: number;
  seed: number;
  signal: AbortSignal;
}

function describe(r: Record<string, any>): string {
  const pm = (x: { value: number; std?: number }) => (x.std === undefined ? x.value.toFixed(4) : `${x.value.toFixed(5)} ± ${x.std.toFixed(5)}`);
  if (r.metric === 'stats') return `wrote statistics of ${r.count} images to ${r.out}`;
  if (/^IS/.test(r.metric))
    return `${r.metric} ${r.mean.toFixed(3)} ± ${r.std.toFixed(3)} (${r.count} images of ${r.source}${r.metric === 'IS' ? '' : '; at most 10'})` + (r.data ? `\ndata: ${r.data.mean.toFixed(3)} ± ${r.data.std.toFixed(3)} (${r.data.source})` : '');
  let s = `${r.metric} ${pm(r as { value: number; std?: number })}  (${r.n[0]} images of ${r.a} vs ${r.n[1]} of ${r.b})`;
  if (r.floor) s += `\ndata floor: ${pm(r.floor)}  (${r.floor.a} vs ${r.b})`;
  return s;
}

function isDataSpec(s: string): boolean {
  return !/\.(safetensors|npz)$/i.test(s);
}

/** A source opened once: saved statistics, or images to run the network over. */
type Source = { moments: FeatureMoments } | { batches: ImageBatches; total: number; dispose: () => void };

async function momentsOf(net: FeatureNetwork, spec: string, o: Opts): Promise<FeatureMoments> {
  const src = await openSource(spec, o);
  return 'moments' in src ? src.moments : (await extractFrom(net, spec, src, o, {})).moments;
}

/** Runs the network over an image source; the caller disposes what it asked for. */
async function features(net: FeatureNetwork, spec: string, o: Opts, keep: { features?: boolean; logits?: boolean }) {
  const src = await openSource(spec, o);
  if ('moments' in src) {
    disposeMoments(src.moments);
    throw new RangeError(`${spec} holds statistics; this score needs images (only fd takes statistics)`);
  }
  return extractFrom(net, spec, src, o, keep);
}

async function extractFrom(net: FeatureNetwork, spec: string, src: Exclude<Source, { moments: FeatureMoments }>, o: Opts, keep: { features?: boolean; logits?: boolean }) {
  const bar = progressLine(`features ${spec}`, process.stderr, 100);
  try {
    return await extractFeatures(net, src.batches, { keepFeatures: keep.features, keepLogits: keep.logits, signal: o.signal, onProgress: (n) => bar.update(n, src.total) });
  } finally {
    bar.done();
    src.dispose();
  }
}

async function openSource(spec: string, o: Opts): Promise<Source> {
  if (extname(spec).toLowerCase() === '.npz') return { moments: await loadMoments(spec) };
  if (/\.safetensors$/i.test(spec)) {
    const { tensors, metadata } = await readSafetensors(spec);
    if (metadata.format === STATS_FORMAT) return { moments: momentsFromTensors(tensors, metadata, spec) };
    const images: Tensor | undefined = tensors.get('samples') ?? tensors.get('extra.buffer');
    for (const t of tensors.values()) if (t !== images) t.dispose();
    if (!images) throw new RangeError(`${spec}: no "samples" tensor (from ddpm/jem sample --out X.safetensors) and no JEM replay buffer`);
    if (images.ndim !== 4) {
      images.dispose();
      throw new RangeError(`${spec}: images must be [N, C, H, W], got [${images.shape}]`);
    }
    const n = Math.min(o.count ?? images.shape[0], images.shape[0]);
    const taken = images.slice(0, 0, n);
    return { batches: tensorImages(taken, o.batch), total: n, dispose: () => (taken.dispose(), images.dispose()) };
  }
  const at = spec.lastIndexOf('@');
  const split = at >= 0 ? spec.slice(at + 1) : 'test';
  if (split !== 'train' && split !== 'test') throw new RangeError(`source '${spec}': the split after @ must be train or test`);
  const ds: ImageDataset = await openDataset(at >= 0 ? spec.slice(0, at) : spec, split);
  const n = Math.min(o.count ?? ds.size, ds.size);
  return { batches: datasetImages(ds, { batchSize: o.batch, count: n, seed: o.seed }), total: n, dispose: () => ds.dispose() };
}

// Line plots rendered to PNG with a small rasteriser (loss curves, accuracy vs ε, reliability
// diagrams): axes with round-number ticks, a title, axis labels and a legend.
import { writeFileAtomic } from '../io/atomic.js';
import { encodePng } from '../data/png.js';
import { GLYPH_H, GLYPH_W, glyph } from './font.js';

export interface Series {
  name: string;
  x: number[];
  y: number[];
  /** [r, g, b]; a palette colour when omitted. */
  color?: [number, number, number];
  /** Draw points instead of a line. */
  points?: boolean;
}

export interface PlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  logY?: boolean;
  /** Fixed axis ranges (default: the data's, padded). */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Also draw y = x (reliability diagrams). */
  diagonal?: boolean;
}

const PALETTE: [number, number, number][] = [[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189], [140, 86, 75]];

class Canvas {
  readonly px: Uint8Array;
  constructor(readonly w: number, readonly h: number) {
    this.px = new Uint8Array(w * h * 3).fill(255);
  }
  set(x: number, y: number, c: [number, number, number]): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    const i = (y * this.w + x) * 3;
    this.px[i] = c[0];
    this.px[i + 1] = c[1];
    this.px[i + 2] = c[2];
  }
  line(x0: number, y0: number, x1: number, y1: number, c: [number, number, number], thick = 1): void {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let i = 0; i <= n; i++) {
      const x = x0 + ((x1 - x0) * i) / n;
      const y = y0 + ((y1 - y0) * i) / n;
      for (let dx = 0; dx < thick; dx++) for (let dy = 0; dy < thick; dy++) this.set(x + dx - (thick >> 1), y + dy - (thick >> 1), c);
    }
  }
  text(s: string, x: number, y: number, scale = 2, c: [number, number, number] = [0, 0, 0], vertical = false): void {
    let k = 0;
    for (const ch of s) {
      const rows = glyph(ch);
      for (let r = 0; r < GLYPH_H; r++)
        for (let col = 0; col < GLYPH_W; col++)
          if (rows[r] & (1 << (GLYPH_W - 1 - col)))
            for (let a = 0; a < scale; a++)
              for (let b = 0; b < scale; b++) {
                const gx = (k * (GLYPH_W + 1) + col) * scale + a;
                const gy = r * scale + b;
                if (vertical) this.set(x + gy, y - gx, c);
                else this.set(x + gx, y + gy, c);
              }
      k++;
    }
  }
}

export function textWidth(s: string, scale = 2): number {
  return [...s].length * (GLYPH_W + 1) * scale;
}

/** Round-number ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

/** Log-axis ticks (in log10 units) at 1, 2, 5 × powers of ten, thinned to about eight. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++)
    for (const m of hi - lo > 3 ? [1] : [1, 2, 5]) {
      const v = e + Math.log10(m);
      if (v >= lo && v <= hi) out.push(v);
    }
  return out.length > 8 ? out.filter((v) => Number.isInteger(Math.round(v * 1e9) / 1e9)) : out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

/** Renders series as a PNG (bytes). */
export function linePlot(series: Series[], o: PlotOptions = {}): Buffer {
  const W = o.width ?? 800;
  const H = o.height ?? 500;
  const cv = new Canvas(W, H);
  const tf = (y: number) => (o.logY ? Math.log10(Math.max(y, 1e-300)) : y);
  const xs = series.flatMap((s) => s.x).filter(Number.isFinite);
  const ys = series.flatMap((s) => s.y.map(tf)).filter(Number.isFinite);
  let [x0, x1] = o.xRange ?? [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = o.yRange ? o.yRange.map(tf) : [Math.min(...ys), Math.max(...ys)];
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
  if (!o.yRange) {
    const padY = (y1 - y0) * 0.05;
    [y0, y1] = [y0 - padY, y1 + padY];
  }
  const L = 100, R = 36, T = o.title ? 44 : 20, B = 60;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const grey: [number, number, number] = [225, 225, 225];
  for (const v of niceTicks(x0, x1)) {
    cv.line(px(v), T, px(v), H - B, grey);
    const s = fmt(v);
    cv.text(s, px(v) - textWidth(s) / 2, H - B + 8);
  }
  for (const v of o.logY ? logTicks(y0, y1) : niceTicks(y0, y1)) {
    cv.line(L, py(v), W - R, py(v), grey);
    const s = o.logY ? fmt(10 ** v) : fmt(v);
    cv.text(s, L - 8 - textWidth(s), py(v) - GLYPH_H);
  }
  cv.line(L, H - B, W - R, H - B, [0, 0, 0], 2);
  cv.line(L, T, L, H - B, [0, 0, 0], 2);
  if (o.diagonal) cv.line(px(Math.max(x0, y0)), py(Math.max(x0, y0)), px(Math.min(x1, y1)), py(Math.min(x1, y1)), [150, 150, 150]);
  series.forEach((s, i) => {
    const c = s.color ?? PALETTE[i % PALETTE.length];
    let prev: [number, number] | undefined;
    for (let k = 0; k < s.x.length; k++) {
      const y = tf(s.y[k]);
      if (!Number.isFinite(y) || !Number.isFinite(s.x[k])) {
        prev = undefined;
        continue;
      }
      const p: [number, number] = [px(s.x[k]), py(y)];
      if (s.points) for (let a = -2; a <= 2; a++) for (let b = -2; b <= 2; b++) cv.set(p[0] + a, p[1] + b, c);
      else if (prev) cv.line(prev[0], prev[1], p[0], p[1], c, 2);
      prev = p;
    }
    if (s.points) for (let a = -2; a <= 2; a++) for (let b = -2; b <= 2; b++) cv.set(W - R - 175 + a, T + 12 + i * 22 + b, c);
    else cv.line(W - R - 190, T + 12 + i * 22, W - R - 160, T + 12 + i * 22, c, 3);
    cv.text(s.name, W - R - 152, T + 5 + i * 22);
  });
  if (o.title) cv.text(o.title, (W - textWidth(o.title, 3)) / 2, 10, 3);
  if (o.xLabel) cv.text(o.xLabel, (W - textWidth(o.xLabel)) / 2, H - 24);
  if (o.yLabel) cv.text(o.yLabel, 6, (H + textWidth(o.yLabel)) / 2, 2, [0, 0, 0], true);
  return encodePng(cv.px, W, H, 3);
}

export async function savePlot(path: string, series: Series[], o: PlotOptions = {}): Promise<void> {
  await writeFileAtomic(path, [linePlot(series, o)]);
}

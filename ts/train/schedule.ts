// Learning-rate schedules: pure functions of the step (0-based), returning the lr for that step.

export type Schedule = (step: number) => number;

/** Linear warmup from 0 to lr over `warmup` steps: lr·min(step/warmup, 1) (DDPM's, JEM's). */
export function linearWarmup(lr: number, warmup: number, after: Schedule = () => lr): Schedule {
  if (!(warmup >= 0)) throw new RangeError(`warmup must be >= 0, got ${warmup}`);
  return (step) => (warmup > 0 && step < warmup ? (lr * step) / warmup : after(step));
}

/** Multiplies lr by `factor` at each milestone step (JEM: ×0.3 at epochs 160 and 180). */
export function stepDecay(lr: number, milestones: number[], factor: number): Schedule {
  return (step) => lr * factor ** milestones.filter((m) => step >= m).length;
}

/** Cosine from lr to minLr over `total` steps. */
export function cosine(lr: number, total: number, minLr = 0): Schedule {
  return (step) => minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * Math.min(step, total) / total));
}

export const constant = (lr: number): Schedule => () => lr;

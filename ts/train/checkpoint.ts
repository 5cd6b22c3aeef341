// One checkpoint format for every trainer: a safetensors file holding the model, the EMA, the
// optimizer state, the step and the RNG states, with the run config in __metadata__. Written
// atomically (temp file + fsync + rename), so a crash mid-write never leaves a torn checkpoint.
import { fromBytes } from '../tensor/creation.js';
import type { Generator } from '../tensor/generator.js';
import type { Tensor } from '../tensor/tensor.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import type { EMA } from './ema.js';
import type { Optimizer } from './optim.js';

export const CHECKPOINT_FORMAT = 'langevin-checkpoint-1';

export interface CheckpointParts {
  model: Module;
  ema?: EMA;
  optimizer?: Optimizer;
  /** Named random streams (data order, noise, dropout …). */
  generators?: Record<string, Generator>;
  /** Extra tensors a trainer keeps (e.g. JEM's replay buffer), stored under `extra.<name>`. */
  extra?: Record<string, Tensor>;
}

export interface CheckpointInfo {
  step: number;
  config: Record<string, unknown>;
  /** Free-form numbers/strings a trainer stored (e.g. the best validation metric). */
  values: Record<string, unknown>;
}

export class CheckpointError extends Error {
  readonly code = 'ERR_CHECKPOINT';
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = 'CheckpointError';
  }
}

export async function saveCheckpoint(path: string, parts: CheckpointParts, info: CheckpointInfo): Promise<void> {
  const tensors = new Map<string, Tensor>();
  const temp: Tensor[] = [];
  for (const [k, t] of parts.model.stateDict()) tensors.set(`model.${k}`, t);
  if (parts.ema) for (const [k, t] of parts.ema.shadow) tensors.set(`ema.${k}`, t);
  let optimMeta = {};
  if (parts.optimizer) {
    const s = parts.optimizer.stateDict();
    for (const [k, t] of s.tensors) tensors.set(`optim.${k}`, t);
    optimMeta = s.meta;
  }
  for (const [name, g] of Object.entries(parts.generators ?? {})) {
    const state = g.getState();
    const t = fromBytes(state, [state.length], 'uint8');
    temp.push(t);
    tensors.set(`rng.${name}`, t);
  }
  for (const [k, t] of Object.entries(parts.extra ?? {})) tensors.set(`extra.${k}`, t);
  try {
    await writeSafetensors(path, tensors, {
      format: CHECKPOINT_FORMAT,
      step: String(info.step),
      config: JSON.stringify(info.config),
      values: JSON.stringify(info.values),
      optimizer: JSON.stringify(optimMeta),
      emaUpdates: String(parts.ema?.updates ?? 0),
      ...parts.model.describe(),
    });
  } finally {
    for (const t of temp) t.dispose();
  }
}

/**
 * Restores the given parts from a checkpoint (strictly: every part asked for must be present and
 * match) and returns its step, config and values. A corrupted file is a CheckpointError or a
 * SafetensorsError naming the file.
 */
export async function loadCheckpoint(path: string, parts: CheckpointParts): Promise<CheckpointInfo & { extra: Map<string, Tensor> }> {
  const { tensors, metadata } = await readSafetensors(path);
  const extra = new Map<string, Tensor>();
  try {
    if (metadata.format !== CHECKPOINT_FORMAT) throw new CheckpointError(path, `not a langevin checkpoint (format ${JSON.stringify(metadata.format ?? null)})`);
    const section = (prefix: string) => new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    const parse = (key: string) => {
      try {
        return JSON.parse(metadata[key] ?? 'null');
      } catch {
        throw new CheckpointError(path, `metadata '${key}' is not JSON`);
      }
    };
    try {
      parts.model.loadStateDict(section('model.'));
    } catch (e) {
      throw new CheckpointError(path, `model: ${(e as Error).message}`);
    }
    if (parts.ema) {
      const s = section('ema.');
      if (!s.size) throw new CheckpointError(path, 'has no EMA weights');
      parts.ema.loadStateDict({ tensors: s, updates: Number(metadata.emaUpdates ?? 0) });
    }
    if (parts.optimizer) {
      const s = section('optim.');
      parts.optimizer.loadStateDict({ tensors: s, meta: parse('optimizer') ?? {} });
    }
    for (const [name, g] of Object.entries(parts.generators ?? {})) {
      const t = tensors.get(`rng.${name}`);
      if (!t) throw new CheckpointError(path, `has no state for the '${name}' random stream`);
      g.setState(t.toBytes());
    }
    for (const [k, t] of section('extra.')) extra.set(k, t.clone());
    const step = Number(metadata.step);
    if (!Number.isInteger(step) || step < 0) throw new CheckpointError(path, `bad step ${JSON.stringify(metadata.step)}`);
    return { step, config: parse('config') ?? {}, values: parse('values') ?? {}, extra };
  } catch (e) {
    for (const t of extra.values()) t.dispose();
    throw e;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

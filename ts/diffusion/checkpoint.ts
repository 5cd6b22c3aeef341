// Opening a trained DDPM for sampling or evaluation: a training checkpoint (raw and EMA weights,
// the diffusion settings in its config) or a plain weights file. Which weights is always an
// explicit choice — peers' users get surprised when training grids (EMA) and their own sampling
// (raw) differ.
import { metadataJson, readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { UNet } from '../nn/unet.js';
import type { Generator } from '../tensor/generator.js';
import { CHECKPOINT_FORMAT } from '../train/checkpoint.js';
import { GaussianDiffusion, type DiffusionOptions } from './gaussian.js';

export type WeightsChoice = 'ema' | 'raw';

export interface LoadedDdpm {
  model: UNet;
  diffusion: GaussianDiffusion;
  /** Training steps behind these weights (0 for a plain weights file). */
  step: number;
  /** The training run's config (empty for a plain weights file). */
  config: Record<string, unknown>;
  weights: WeightsChoice;
}

export async function loadDdpm(path: string, opts: { weights: WeightsChoice; diffusion?: DiffusionOptions; generator?: Generator }): Promise<LoadedDdpm> {
  if (opts.weights !== 'ema' && opts.weights !== 'raw') throw new RangeError(`loadDdpm: weights must be 'ema' or 'raw', got '${String(opts.weights)}'`);
  const { tensors, metadata } = await readSafetensors(path);
  try {
    if (metadata['langevin.kind'] !== 'unet') throw new RangeError(`${path}: not a U-Net (langevin.kind is ${JSON.stringify(metadata['langevin.kind'] ?? null)})`);
    // Parsed configs are validated by the model constructors.
    const parse = (key: string): any => metadataJson(metadata, key, path);
    const model = new UNet({ ...parse('langevin.config'), generator: opts.generator });
    const isCheckpoint = metadata.format === CHECKPOINT_FORMAT;
    // An exported file (exportDdpm) holds one set of weights and says which.
    const held = metadata['ddpm.weights'];
    if (!isCheckpoint && held && held !== opts.weights) throw new RangeError(`${path} holds only the ${held} weights (asked for ${opts.weights})`);
    const config: Record<string, unknown> = (isCheckpoint ? parse('config') : parse('ddpm.config')) ?? {};
    let weights = tensors;
    if (isCheckpoint) {
      const prefix = opts.weights === 'ema' ? 'ema.' : 'model.';
      weights = new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
      if (!weights.size) throw new RangeError(`${path}: has no ${opts.weights} weights`);
    }
    model.loadStateDict(weights);
    model.eval();
    const diffusion = new GaussianDiffusion({ ...((config.diffusion as DiffusionOptions | undefined) ?? {}), ...opts.diffusion });
    return { model, diffusion, step: Number((isCheckpoint ? metadata.step : metadata['ddpm.step']) ?? 0), config, weights: opts.weights };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/**
 * Writes one set of a checkpoint's weights (raw or EMA) as a standalone weights file that keeps
 * the run's config (diffusion settings, data, steps): what to share or ship. loadDdpm and
 * loadModel both read it.
 */
export async function exportDdpm(checkpoint: string, out: string, opts: { weights: WeightsChoice }): Promise<void> {
  const { model, step, config } = await loadDdpm(checkpoint, opts);
  try {
    await writeSafetensors(out, model.stateDict(), {
      ...model.describe(),
      'ddpm.weights': opts.weights,
      'ddpm.step': String(step),
      'ddpm.config': JSON.stringify(config),
    });
  } finally {
    model.dispose();
  }
}

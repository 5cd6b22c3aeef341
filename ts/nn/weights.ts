// Whole-model files: rebuild a model from the config in its safetensors metadata; diffusers folders.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Generator } from '../tensor/generator.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { fromDiffusersConfig, toDiffusers, toDiffusersConfig } from './diffusers.js';
import { UNet } from './unet.js';
import { WideResNet } from './wideresnet.js';

/** Loads a model saved by saveWeights(): builds it from the stored config, then loads strictly. */
export async function loadModel(path: string, opts: { generator?: Generator } = {}): Promise<UNet | WideResNet> {
  const { tensors, metadata } = await readSafetensors(path);
  try {
    const kind = metadata['langevin.kind'];
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(metadata['langevin.config'] ?? 'null');
    } catch {
      throw new RangeError(`${path}: its langevin.config metadata is not JSON`);
    }
    if (!config || (kind !== 'unet' && kind !== 'wrn'))
      throw new RangeError(`${path}: no langevin model config in its metadata (was it written by saveWeights?); build the model and call loadWeights instead`);
    const model = kind === 'unet' ? new UNet({ ...config, generator: opts.generator }) : new WideResNet({ ...config, generator: opts.generator });
    model.loadStateDict(tensors);
    return model;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Writes `dir/config.json` + `dir/diffusion_pytorch_model.safetensors` in diffusers' UNet2DModel layout. */
export async function saveDiffusers(model: UNet, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const own = new Set(model.stateDict().values());
  const sd = toDiffusers(model.stateDict(), model.config.channelMult.length);
  try {
    await writeSafetensors(join(dir, 'diffusion_pytorch_model.safetensors'), sd, { format: 'pt' });
  } finally {
    for (const t of sd.values()) if (!own.has(t)) t.dispose(); // the Linear-shaped attention views
  }
  await writeFileAtomic(join(dir, 'config.json'), [Buffer.from(JSON.stringify(toDiffusersConfig(model.config), null, 2) + '\n')]);
}

/** Builds a U-Net from a diffusers folder (config.json + diffusion_pytorch_model.safetensors). */
export async function loadDiffusers(dir: string, opts: { generator?: Generator } = {}): Promise<UNet> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  } catch (e) {
    throw new RangeError(`${dir}/config.json: cannot read or parse (${(e as Error).message})`);
  }
  const model = new UNet({ ...fromDiffusersConfig(config), generator: opts.generator });
  await model.loadWeights(join(dir, 'diffusion_pytorch_model.safetensors'));
  return model;
}

// Opening a trained JEM classifier: a training checkpoint (model, replay buffer, run config) or a
// plain weights file (saveWeights / the classifier trainer's artifacts).
import { metadataJson, readSafetensors } from '../io/safetensors.js';
import { WideResNet } from '../nn/wideresnet.js';
import type { Tensor } from '../tensor/tensor.js';
import { CHECKPOINT_FORMAT } from '../train/checkpoint.js';

export interface LoadedJem {
  model: WideResNet;
  /** The replay buffer [size, C, H, W] when the file is a JEM checkpoint. */
  buffer?: Tensor;
  step: number;
  config: Record<string, unknown>;
}

export async function loadJem(path: string): Promise<LoadedJem> {
  const { tensors, metadata } = await readSafetensors(path);
  try {
    if (metadata['langevin.kind'] !== 'wrn') throw new RangeError(`${path}: not a Wide-ResNet (langevin.kind is ${JSON.stringify(metadata['langevin.kind'] ?? null)})`);
    // Parsed configs are validated by the model constructors.
    const parse = (key: string): any => metadataJson(metadata, key, path);
    const model = new WideResNet(parse('langevin.config') ?? {});
    const isCheckpoint = metadata.format === CHECKPOINT_FORMAT;
    const weights = isCheckpoint ? new Map([...tensors].filter(([k]) => k.startsWith('model.')).map(([k, t]) => [k.slice(6), t])) : tensors;
    model.loadStateDict(weights);
    model.eval();
    const buffer = tensors.get('extra.buffer')?.clone();
    return { model, buffer, step: isCheckpoint ? Number(metadata.step) : 0, config: (isCheckpoint ? parse('config') : {}) ?? {} };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

// `langevin model info <preset|file.safetensors> [--json]`
import { existsSync } from 'node:fs';
import { loadModel, macsPerSample, modelFromPreset, presets, UNet } from '../nn/index.js';

export async function modelInfo(target: string | undefined, json: boolean, log: (s: string) => void): Promise<number> {
  if (!target) {
    log(`usage: langevin model info <preset|weights.safetensors> [--json]\npresets: ${Object.keys(presets).join(', ')}\n`);
    return 1;
  }
  const fromFile = target.endsWith('.safetensors') || existsSync(target);
  const model = fromFile ? await loadModel(target) : modelFromPreset(target);
  try {
    const info = {
      [fromFile ? 'file' : 'preset']: target,
      kind: model instanceof UNet ? 'unet' : 'wideResNet',
      parameters: model.parameterCount(),
      macsPerSample: macsPerSample(model),
      tensors: model.stateDict().size,
      config: model.config,
    };
    if (json) log(JSON.stringify(info, null, 2) + '\n');
    else
      log(`${target}: ${info.kind}, ${info.parameters.toLocaleString('en-US')} parameters in ${info.tensors} tensors, ` +
        `${(info.macsPerSample / 1e9).toFixed(3)} GMAC per ${model.config.resolution}×${model.config.resolution} sample\n`);
    return 0;
  } finally {
    model.dispose();
  }
}

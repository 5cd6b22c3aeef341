// Named model configurations. Parameter counts and MACs are checked by tests and `langevin model info`.
import { UNet, type UNetConfig } from './unet.js';
import { WideResNet, type WideResNetConfig } from './wideresnet.js';

export const presets = {
  /** The original CIFAR-10 DDPM: 35,746,307 parameters, 6.22 GMAC per 32×32 image. */
  ddpmCifar10: { kind: 'unet', config: { inChannels: 3, resolution: 32, channels: 128, channelMult: [1, 2, 2, 2], numResBlocks: 2, attnResolutions: [16], dropout: 0.1 } },
  /** The LSUN / CelebA-HQ 256×256 DDPM: 113,673,219 parameters, 248.5 GMAC per image. */
  ddpm256: { kind: 'unet', config: { inChannels: 3, resolution: 256, channels: 128, channelMult: [1, 1, 2, 2, 4, 4], numResBlocks: 2, attnResolutions: [16], dropout: 0 } },
  /** CPU-sized 1-channel 32×32 (Fashion-MNIST padded): 64 wide, 3 levels, attention at 16×16. */
  ddpmSmall: { kind: 'unet', config: { inChannels: 1, resolution: 32, channels: 64, channelMult: [1, 2, 2], numResBlocks: 2, attnResolutions: [16], dropout: 0.1 } },
  /** The smallest useful 1-channel 32×32 U-Net: 32 wide, one block per level, attention at 8×8. */
  ddpmTiny: { kind: 'unet', config: { inChannels: 1, resolution: 32, channels: 32, channelMult: [1, 2, 2], numResBlocks: 1, attnResolutions: [8], dropout: 0, groups: 8 } },
  /** JEM's WRN-28-10 (CIFAR-10): 36,471,338 parameters used. */
  'wrn28-10': { kind: 'wrn', config: { depth: 28, widen: 10, classes: 10, inChannels: 3, resolution: 32 } },
  /** A CPU-sized WRN-10-2 for 1-channel 32×32 data (Fashion-MNIST padded). */
  'wrn10-2': { kind: 'wrn', config: { depth: 10, widen: 2, classes: 10, inChannels: 1, resolution: 32 } },
} as const satisfies Record<string, { kind: 'unet'; config: UNetConfig } | { kind: 'wrn'; config: WideResNetConfig }>;

export type PresetName = keyof typeof presets;

/** Builds a U-Net from a config or a preset name (with overrides). */
export function unet(config: UNetConfig | PresetName = {}, overrides: UNetConfig = {}): UNet {
  if (typeof config === 'string') {
    const p = presets[config];
    if (!p || p.kind !== 'unet') throw new RangeError(`unet: '${config}' is not a U-Net preset (${unetPresetNames().join(', ')})`);
    return new UNet({ ...structuredClone(p.config), ...overrides } as UNetConfig);
  }
  return new UNet({ ...config, ...overrides });
}

/** Builds a Wide-ResNet from a config or a preset name (with overrides). */
export function wideResNet(config: WideResNetConfig | PresetName = {}, overrides: WideResNetConfig = {}): WideResNet {
  if (typeof config === 'string') {
    const p = presets[config];
    if (!p || p.kind !== 'wrn') throw new RangeError(`wideResNet: '${config}' is not a Wide-ResNet preset`);
    return new WideResNet({ ...structuredClone(p.config), ...overrides } as WideResNetConfig);
  }
  return new WideResNet({ ...config, ...overrides });
}

export function modelFromPreset(name: string, overrides: UNetConfig & WideResNetConfig = {}): UNet | WideResNet {
  const p = (presets as Record<string, { kind: string }>)[name];
  if (!p) throw new RangeError(`unknown preset '${name}' (known: ${Object.keys(presets).join(', ')})`);
  return p.kind === 'unet' ? unet(name as PresetName, overrides) : wideResNet(name as PresetName, overrides);
}

function unetPresetNames(): string[] {
  return Object.entries(presets).filter(([, p]) => p.kind === 'unet').map(([n]) => n);
}

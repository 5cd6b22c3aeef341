// The diffusers UNet2DModel layout (google/ddpm-cifar10-32 and friends): key names, attention
// weights as Linear [C, C] instead of 1×1 conv [C, C, 1, 1], legacy attention names, config.json.
import type { Tensor } from '../tensor/tensor.js';
import type { StateDict } from './module.js';
import type { UNetConfig } from './unet.js';

const ATTN_NEW: Record<string, string> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };
const ATTN_LEGACY: Record<string, string> = { query: 'q', key: 'k', value: 'v', proj_attn: 'proj_out', group_norm: 'norm', to_q: 'q', to_k: 'k', to_v: 'v', 'to_out.0': 'proj_out' };
const RES: Record<string, string> = { temb_proj: 'time_emb_proj', nin_shortcut: 'conv_shortcut' };
const RES_BACK: Record<string, string> = { time_emb_proj: 'temb_proj', conv_shortcut: 'nin_shortcut' };

/** True when a state dict uses diffusers names. */
export function isDiffusersLayout(sd: StateDict): boolean {
  for (const k of sd.keys()) if (k.startsWith('time_embedding.') || k.startsWith('down_blocks.') || k.startsWith('mid_block.')) return true;
  return false;
}

/** Original-release name → diffusers name, for a U-Net with `levels` levels. */
export function toDiffusersKey(key: string, levels: number): string {
  let m: RegExpMatchArray | null;
  if ((m = key.match(/^temb\.dense\.([01])\.(.+)$/))) return `time_embedding.linear_${Number(m[1]) + 1}.${m[2]}`;
  if ((m = key.match(/^norm_out\.(.+)$/))) return `conv_norm_out.${m[1]}`;
  if ((m = key.match(/^(down|up)\.(\d+)\.block\.(\d+)\.(\w+)\.(.+)$/))) {
    const [, dir, l, b, layer, rest] = m;
    const level = dir === 'down' ? Number(l) : levels - 1 - Number(l);
    return `${dir}_blocks.${level}.resnets.${b}.${RES[layer] ?? layer}.${rest}`;
  }
  if ((m = key.match(/^(down|up)\.(\d+)\.attn\.(\d+)\.(\w+)\.(.+)$/))) {
    const [, dir, l, b, layer, rest] = m;
    const level = dir === 'down' ? Number(l) : levels - 1 - Number(l);
    return `${dir}_blocks.${level}.attentions.${b}.${ATTN_NEW[layer]}.${rest}`;
  }
  if ((m = key.match(/^down\.(\d+)\.downsample\.conv\.(.+)$/))) return `down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  if ((m = key.match(/^up\.(\d+)\.upsample\.conv\.(.+)$/))) return `up_blocks.${levels - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
  if ((m = key.match(/^mid\.block_([12])\.(\w+)\.(.+)$/))) return `mid_block.resnets.${Number(m[1]) - 1}.${RES[m[2]] ?? m[2]}.${m[3]}`;
  if ((m = key.match(/^mid\.attn_1\.(\w+)\.(.+)$/))) return `mid_block.attentions.0.${ATTN_NEW[m[1]]}.${m[2]}`;
  return key; // conv_in, conv_out
}

/** diffusers name (current or legacy attention names) → original-release name. */
export function fromDiffusersKey(key: string, levels: number): string {
  let m: RegExpMatchArray | null;
  if ((m = key.match(/^time_embedding\.linear_([12])\.(.+)$/))) return `temb.dense.${Number(m[1]) - 1}.${m[2]}`;
  if ((m = key.match(/^conv_norm_out\.(.+)$/))) return `norm_out.${m[1]}`;
  if ((m = key.match(/^(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(.+)$/))) {
    const [, dir, l, b, layer, rest] = m;
    const level = dir === 'down' ? Number(l) : levels - 1 - Number(l);
    return `${dir}.${level}.block.${b}.${RES_BACK[layer] ?? layer}.${rest}`;
  }
  if ((m = key.match(/^(down|up)_blocks\.(\d+)\.attentions\.(\d+)\.(to_out\.0|\w+)\.(.+)$/))) {
    const [, dir, l, b, layer, rest] = m;
    const level = dir === 'down' ? Number(l) : levels - 1 - Number(l);
    return `${dir}.${level}.attn.${b}.${ATTN_LEGACY[layer] ?? layer}.${rest}`;
  }
  if ((m = key.match(/^down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/))) return `down.${m[1]}.downsample.conv.${m[2]}`;
  if ((m = key.match(/^up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/))) return `up.${levels - 1 - Number(m[1])}.upsample.conv.${m[2]}`;
  if ((m = key.match(/^mid_block\.resnets\.([01])\.(\w+)\.(.+)$/))) return `mid.block_${Number(m[1]) + 1}.${RES_BACK[m[2]] ?? m[2]}.${m[3]}`;
  if ((m = key.match(/^mid_block\.attentions\.0\.(to_out\.0|\w+)\.(.+)$/))) return `mid.attn_1.${ATTN_LEGACY[m[1]] ?? m[1]}.${m[2]}`;
  return key;
}

const isAttnWeight = (origKey: string) => /(^|\.)attn(\.\d+|_1)\.(q|k|v|proj_out)\.weight$/.test(origKey);

/** Translates a diffusers state dict to original names; Linear [C, C] attention weights become [C, C, 1, 1] views. */
export function fromDiffusers(sd: StateDict, levels: number): StateDict {
  const out: StateDict = new Map();
  for (const [k, t] of sd) {
    const name = fromDiffusersKey(k, levels);
    out.set(name, isAttnWeight(name) && t.ndim === 2 ? t.reshape(t.shape[0], t.shape[1], 1, 1) : t);
  }
  return out;
}

/** Translates an original-layout state dict to diffusers names with Linear [C, C] attention weights. */
export function toDiffusers(sd: StateDict, levels: number): StateDict {
  const out: StateDict = new Map();
  for (const [k, t] of sd) out.set(toDiffusersKey(k, levels), isAttnWeight(k) && t.ndim === 4 ? t.reshape(t.shape[0], t.shape[1]) : t);
  return out;
}

/** The diffusers config.json of a U-Net (UNet2DModel; DDPM's options). */
export function toDiffusersConfig(c: Required<Omit<UNetConfig, 'generator'>>): Record<string, unknown> {
  const levels = c.channelMult.length;
  const attnAt = (l: number) => c.attnResolutions.includes(c.resolution / 2 ** l);
  return {
    _class_name: 'UNet2DModel',
    act_fn: 'silu',
    attention_head_dim: null,
    block_out_channels: c.channelMult.map((m) => m * c.channels),
    center_input_sample: false,
    down_block_types: Array.from({ length: levels }, (_, l) => (attnAt(l) ? 'AttnDownBlock2D' : 'DownBlock2D')),
    downsample_padding: 0,
    flip_sin_to_cos: false,
    freq_shift: 1,
    in_channels: c.inChannels,
    layers_per_block: c.numResBlocks,
    mid_block_scale_factor: 1,
    norm_eps: c.eps,
    norm_num_groups: c.groups,
    out_channels: c.outChannels,
    sample_size: c.resolution,
    time_embedding_type: 'positional',
    up_block_types: Array.from({ length: levels }, (_, i) => (attnAt(levels - 1 - i) ? 'AttnUpBlock2D' : 'UpBlock2D')),
    dropout: c.dropout,
  };
}

/** A U-Net config from a diffusers config.json; options the original DDPM never used are refused. */
export function fromDiffusersConfig(j: Record<string, any>): UNetConfig {
  const bad = (m: string) => new RangeError(`diffusers config: ${m}`);
  if (j._class_name && j._class_name !== 'UNet2DModel') throw bad(`_class_name ${j._class_name} is not UNet2DModel`);
  const outs: number[] = j.block_out_channels;
  if (!Array.isArray(outs) || !outs.length) throw bad('block_out_channels is missing');
  const ch = outs[0];
  if (outs.some((o) => o % ch !== 0)) throw bad(`block_out_channels ${JSON.stringify(outs)} are not multiples of the first`);
  const checks: [string, unknown, unknown][] = [
    ['downsample_padding', j.downsample_padding ?? 1, 0], ['flip_sin_to_cos', j.flip_sin_to_cos ?? true, false], ['freq_shift', j.freq_shift ?? 0, 1],
    ['time_embedding_type', j.time_embedding_type ?? 'positional', 'positional'], ['act_fn', j.act_fn ?? 'silu', 'silu'],
    ['center_input_sample', j.center_input_sample ?? false, false], ['mid_block_scale_factor', j.mid_block_scale_factor ?? 1, 1],
  ];
  for (const [k, got, want] of checks) if (got !== want) throw bad(`${k} is ${JSON.stringify(got)}; the original DDPM U-Net needs ${JSON.stringify(want)}`);
  if (j.attention_head_dim !== null && j.attention_head_dim !== undefined && j.attention_head_dim !== ch * Math.max(...outs.map((o) => o / ch)))
    if (typeof j.attention_head_dim === 'number') throw bad(`attention_head_dim ${j.attention_head_dim}: only single-head attention (null) is supported`);
  const down: string[] = j.down_block_types ?? [];
  const res: number = j.sample_size;
  if (!Number.isInteger(res)) throw bad('sample_size must be an integer');
  const attnResolutions = down.flatMap((t, l) => (t === 'AttnDownBlock2D' ? [res / 2 ** l] : []));
  for (const t of down) if (t !== 'DownBlock2D' && t !== 'AttnDownBlock2D') throw bad(`down block type ${t} is not supported`);
  return {
    inChannels: j.in_channels ?? 3,
    outChannels: j.out_channels ?? j.in_channels ?? 3,
    resolution: res,
    channels: ch,
    channelMult: outs.map((o) => o / ch),
    numResBlocks: j.layers_per_block ?? 2,
    attnResolutions,
    dropout: j.dropout ?? 0,
    resampleWithConv: true,
    groups: j.norm_num_groups ?? 32,
    eps: j.norm_eps ?? 1e-5,
  };
}

export type { Tensor };

// Module: named parameters, buffers and children with dotted PyTorch-compatible names.
import { noGrad } from '../tensor/autograd.js';
import type { Device, DType, MemoryFormat } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';

export type StateDict = Map<string, Tensor>;

export interface LoadOptions {
  /** Require the exact key set (default true). Shape mismatches are always errors. */
  strict?: boolean;
}

/** What loadStateDict found wrong, listed in full. */
export class StateDictError extends Error {
  readonly code = 'ERR_STATE_DICT';
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: { key: string; expected: readonly number[]; got: readonly number[] }[],
  ) {
    const parts: string[] = [];
    const list = (xs: string[]) => (xs.length > 8 ? `${xs.slice(0, 8).join(', ')}, … (${xs.length} in all)` : xs.join(', '));
    if (missing.length) parts.push(`missing keys: ${list(missing)}`);
    if (unexpected.length) parts.push(`unexpected keys: ${list(unexpected)}`);
    if (mismatched.length) parts.push(`shape mismatches: ${list(mismatched.map((m) => `${m.key} expects [${m.expected}] got [${m.got}]`))}`);
    super(`loadStateDict: ${parts.join('; ')}`);
    this.name = 'StateDictError';
  }
}

export abstract class Module {
  /** Training mode (dropout on, batch-norm batch statistics). */
  training = true;
  readonly #params = new Map<string, Tensor | undefined>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();
  #version = 0;

  abstract forward(...args: unknown[]): Tensor;

  /** Registers a trainable parameter (sets requiresGrad). `undefined` registers an absent one (e.g. no bias). */
  protected param(name: string, t: Tensor | undefined): Tensor {
    if (t) t.requiresGrad_(true);
    this.#params.set(name, t);
    return t as Tensor;
  }
  protected buffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, t);
    return t;
  }
  protected child<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }
  /** The parameter or buffer registered under `name` on this module (not children). */
  protected own(name: string): Tensor | undefined {
    return this.#params.get(name) ?? this.#buffers.get(name);
  }

  namedChildren(): [string, Module][] {
    return [...this.#children];
  }
  /** Parameters in registration order with dotted names, children after own. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#params) if (t) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#buffers) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }
  /** Number of parameter elements. */
  parameterCount(): number {
    return this.parameters().reduce((s, t) => s + t.numel, 0);
  }

  /**
   * Parameters then buffers per module, in PyTorch's state_dict order. The tensors are the
   * module's own (not copies): read them, do not dispose them.
   */
  stateDict(prefix = ''): StateDict {
    const sd: StateDict = new Map();
    for (const [n, t] of this.#params) if (t) sd.set(prefix + n, t);
    for (const [n, t] of this.#buffers) sd.set(prefix + n, t);
    for (const [n, c] of this.#children) for (const [k, t] of c.stateDict(`${prefix}${n}.`)) sd.set(k, t);
    return sd;
  }

  /** Copies values in (converting dtype/device as needed). Errors list every problem at once. */
  loadStateDict(source: StateDict | Record<string, Tensor>, opts: LoadOptions = {}): void {
    const strict = opts.strict ?? true;
    const src = source instanceof Map ? source : new Map(Object.entries(source));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    const mismatched: StateDictError['mismatched'] = [];
    for (const [k, t] of own) {
      const s = src.get(k);
      if (s && (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i]))) mismatched.push({ key: k, expected: t.shape, got: s.shape });
    }
    if (mismatched.length || (strict && (missing.length || unexpected.length))) throw new StateDictError(strict ? missing : [], strict ? unexpected : [], mismatched);
    noGrad(() => {
      for (const [k, t] of own) {
        const s = src.get(k);
        if (s) t.copy_(s);
      }
    });
  }

  /**
   * Writes the state dict as safetensors (PyTorch-compatible names), with the model's config in
   * `__metadata__` so loadModel() can rebuild it. Atomic: readers never see a partial file.
   */
  async saveWeights(path: string, metadata: Record<string, string> = {}): Promise<void> {
    await writeSafetensors(path, this.stateDict(), { format: 'pt', ...this.describe(), ...metadata });
  }

  /** Loads safetensors weights (other layouts this model knows, e.g. diffusers', are translated). */
  async loadWeights(path: string, opts: LoadOptions = {}): Promise<void> {
    const { tensors } = await readSafetensors(path);
    let translated: StateDict | undefined;
    try {
      translated = this.translateKeys(tensors);
      this.loadStateDict(translated, opts);
    } finally {
      for (const t of tensors.values()) t.dispose();
      for (const t of translated?.values() ?? []) t.dispose(); // views made by the translation
    }
  }

  /** Metadata describing how to rebuild this model (kind and config); empty for plain modules. */
  describe(): Record<string, string> {
    return {};
  }

  /** Maps foreign state-dict keys to this module's names; identity unless a model knows a layout. */
  translateKeys(sd: StateDict): StateDict {
    return sd;
  }

  train(on = true): this {
    this.training = on;
    for (const c of this.#children.values()) c.train(on);
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /**
   * Moves/converts every parameter and buffer (new tensors replace the old, which are disposed).
   * Do it before handing parameters to an optimizer. Integer buffers keep their dtype.
   * `memoryFormat: 'channelsLast'` lays 4-d weights out NHWC, as `model.to(memory_format=
   * torch.channels_last)`: a compiled model then runs channels-last throughout (its input is
   * converted on entry, its output comes back contiguous) — faster bf16/AMX convolutions on CPUs
   * and tensor-core convolutions on GPUs. Values are unchanged; weights save and load as usual.
   */
  to(target: Device | DType | { device?: Device; dtype?: DType; memoryFormat?: MemoryFormat }): this {
    const t = typeof target === 'string' ? (target === 'cpu' || target.startsWith('cuda') ? { device: target as Device } : { dtype: target as DType }) : target;
    if (t.memoryFormat !== undefined && t.memoryFormat !== 'contiguous' && t.memoryFormat !== 'channelsLast')
      throw new RangeError(`memoryFormat must be 'contiguous' or 'channelsLast', got '${String(t.memoryFormat)}'`);
    noGrad(() => {
      for (const [n, p] of this.#params) {
        if (!p) continue;
        const moved = p.to({ device: t.device, dtype: t.dtype });
        const laid = t.memoryFormat && moved.ndim === 4 ? moved.contiguous(t.memoryFormat) : moved;
        const q = laid.detach().requiresGrad_(true);
        for (const h of new Set([moved, laid])) h.dispose(); // handles; q keeps the storage
        p.dispose();
        this.#params.set(n, q);
      }
      for (const [n, b] of this.#buffers) {
        const isFloat = b.dtype.startsWith('float') || b.dtype === 'bfloat16';
        const q = b.to({ device: t.device, dtype: isFloat ? t.dtype : undefined });
        b.dispose();
        this.#buffers.set(n, q);
      }
    });
    for (const c of this.#children.values()) c.to(target);
    this.#version++;
    return this;
  }

  /** Changes whenever parameters are replaced (to()); compiled programs check it. */
  get version(): number {
    let v = this.#version;
    for (const c of this.#children.values()) v += c.version;
    return v;
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const p of this.#params.values()) p?.dispose();
    for (const b of this.#buffers.values()) b.dispose();
    for (const c of this.#children.values()) c.dispose();
  }
}

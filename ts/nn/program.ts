// Block programs: how a built model runs whole in one native call (see native/program.h).
import { native, type NativeProgram } from '../tensor/binding.js';
import type { Generator } from '../tensor/generator.js';
import { Tensor } from '../tensor/tensor.js';
import { runJob, type JobOptions } from '../tensor/jobs.js';
import { resolveComputeDtype, type ComputeDtype } from '../tensor/runtime.js';
import type { Module } from './module.js';

/** One block of a program. Params are the module's own tensors (undefined = absent). */
export interface BlockSpec {
  kind: 'temb' | 'conv' | 'resblock' | 'attn' | 'downsample' | 'upsample' | 'normact' | 'wrnblock' | 'pool' | 'linear';
  params: (Tensor | undefined)[];
  /** Indices of params written in training mode (batch-norm running statistics). */
  mutated?: number[];
  ints: number[];
  floats: number[];
  /** Push the output on the skip stack. */
  push?: boolean;
  /** Concatenate the popped skip (channel dim) before the block. */
  pop?: boolean;
}

/** Options of a forward. */
export interface ForwardOptions {
  /**
   * Mixed precision: convolutions and matmuls in bfloat16 (weights cast once per call),
   * normalisations in float32; the output stays float32. Under autograd the casts are recorded, so
   * backward leaves float32 gradients on the float32 parameters (training with float32 master
   * weights, as `torch.autocast`). Default 'float32'; 'auto' = bfloat16 where the hardware has it
   * (see `resolveComputeDtype`).
   */
  computeDtype?: ComputeDtype | 'auto';
}

/** Options of an inference forward on a worker thread. */
export interface InferenceOptions extends JobOptions, ForwardOptions {}

/** A module that can describe itself as blocks. */
export interface Compilable {
  blocks(): BlockSpec[];
}

/** A compiled program, rebuilt when the module's parameters are replaced (Module.to). */
export class Program {
  #native: NativeProgram | undefined;
  #version = -1;
  constructor(private readonly module: Compilable & Pick<Module, 'version'>) {}

  get native(): NativeProgram {
    if (!this.#native || this.#version !== this.module.version) {
      const specs = this.module.blocks().map((b) => ({
        kind: b.kind,
        params: b.params.map((p) => (p ? p.native : -1)),
        mutated: b.mutated ?? [],
        ints: b.ints,
        floats: b.floats,
        push: b.push ?? false,
        pop: b.pop ?? false,
      }));
      this.#native = new native.NativeProgram(specs);
      this.#version = this.module.version;
    }
    return this.#native;
  }

  /**
   * One inference forward on a worker thread (no autograd graph). Parameters and inputs are locked
   * while it runs: changing or disposing them from JS throws ERR_BUSY.
   */
  async forwardAsync(x: Tensor, t: Tensor | undefined, generator?: Generator, opts: InferenceOptions = {}): Promise<Tensor> {
    const compute = resolveComputeDtype(opts.computeDtype, x.device);
    const id = await runJob<number>((jobOpts) => native.programForwardAsync(this.native, x.native, t?.native, generator?.native, compute, jobOpts), opts);
    return new Tensor(id);
  }

  /** Frees native caches (the bf16 weight copies of mixed-precision calls) now. */
  release(): void {
    if (this.#native) native.programReleaseCache(this.#native);
  }

  /** One forward through the whole program, one native call. */
  forward(x: Tensor, t: Tensor | undefined, training: boolean, generator?: Generator, opts: ForwardOptions = {}): Tensor {
    const compute = resolveComputeDtype(opts.computeDtype, x.device);
    return new Tensor(native.programForward(this.native, x.native, t?.native, training, generator?.native, compute));
  }
}

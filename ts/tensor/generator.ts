// Explicit random streams. One seed drives every draw that takes this generator.
import { native, type NativeGenerator } from './binding.js';

/** A seeded random stream (ATen's CPU generator). Draws for CUDA tensors use it too, then copy. */
export class Generator {
  /** The native generator. Internal. */
  readonly native: NativeGenerator;
  constructor(seed = 0) {
    this.native = new native.NativeGenerator(seed);
  }
  /** Restarts the stream from `seed`. */
  manualSeed(seed: number): this {
    this.native.manualSeed(seed);
    return this;
  }
  get seed(): number {
    return this.native.initialSeed();
  }
  /** The full state, for checkpoints. */
  getState(): Uint8Array {
    return this.native.getState();
  }
  setState(state: Uint8Array): this {
    this.native.setState(state);
    return this;
  }
}

/** Seeds the default generator (used when a draw is given none). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

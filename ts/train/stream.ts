// Seeded, resumable batch order: the batch for a step is a function of (seed, purpose, epoch,
// position), so a resumed run sees exactly the batches an uninterrupted one would. Shuffled
// without replacement per epoch, last partial batch dropped.
import { Generator } from '../tensor/generator.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Batch, ImageDataset } from '../data/dataset.js';
import { streamSeed } from './seeds.js';

export class BatchStream {
  readonly perEpoch: number;
  #epoch = -1;
  #next = 0;
  #it: IterableIterator<Batch> | undefined;

  constructor(
    readonly data: ImageDataset,
    readonly batchSize: number,
    readonly seed: number,
    /** Names the stream: two streams of one run with different purposes are independent. */
    readonly purpose = 'order',
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > data.size) throw new RangeError(`batch size must be in [1, ${data.size}], got ${batchSize}`);
    this.perEpoch = Math.floor(data.size / batchSize);
  }

  /** The batch of a step (the caller disposes x and y). Sequential calls cost one batch each. */
  at(step: number): { x: Tensor; y: Tensor } {
    const e = Math.floor(step / this.perEpoch);
    const pos = step - e * this.perEpoch;
    if (e !== this.#epoch || !this.#it || pos !== this.#next) {
      this.#epoch = e;
      this.#it = this.data.batches({ batchSize: this.batchSize, shuffle: true, dropLast: true, generator: new Generator(streamSeed(this.seed, this.purpose, e)) });
      for (let k = 0; k < pos; k++) {
        const b = this.#it.next().value!;
        b.x.dispose();
        b.y.dispose();
      }
    }
    this.#next = pos + 1;
    return this.#it.next().value!;
  }
}

// The FID Inception-v3: torchvision's Inception3 layout with the changes pytorch-fid makes to match
// the TensorFlow graph behind every published FID (1008 classes, no auxiliary head, BatchNorm eps
// 0.001; average pools in Mixed_5b–5d, 6b–6e and 7b exclude padding from the count; Mixed_7c pools
// its last branch with a max pool). Parameter names are torchvision's (`Conv2d_1a_3x3.conv.weight`,
// `Mixed_7c.branch_pool.bn.running_var`, `fc.weight`, …), so the converted pytorch-fid weights file
// loads as it is.
//
// Input: NCHW images, uint8 (0–255) or float in [-1, 1], 1 or 3 channels, any size. As pytorch-fid:
// scaled to [0, 1], grey repeated to 3 channels, resized to 299×299 (bilinear, align_corners = false,
// no antialiasing), then mapped to [-1, 1].
import { cat, zeros } from '../tensor/creation.js';
import { existsSync } from 'node:fs';
import { readSafetensors } from '../io/safetensors.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import * as F from './functional.js';
import { BatchNorm2d } from './layers.js';
import { Module } from './module.js';

type Pads = [number, number, number, number]; // top, bottom, left, right

/** Conv (no bias) → BatchNorm (eps 0.001) → ReLU, with torchvision's `conv` / `bn` names. */
class BasicConv2d extends Module {
  readonly conv: RectConv;
  readonly bn: BatchNorm2d;
  constructor(inC: number, outC: number, kernel: [number, number], stride = 1, pads: Pads = [0, 0, 0, 0]) {
    super();
    this.conv = this.child('conv', new RectConv(outC, inC, kernel, stride, pads));
    this.bn = this.child('bn', new BatchNorm2d(outC, 0.1, 0.001));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => F.relu(this.bn.forward(this.conv.forward(x))));
  }
}

/** A bias-free convolution with a rectangular kernel (1×7, 3×1, …). */
class RectConv extends Module {
  constructor(
    outC: number,
    inC: number,
    k: [number, number],
    readonly stride: number,
    readonly pads: Pads,
  ) {
    super();
    this.param('weight', zeros([outC, inC, k[0], k[1]]));
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.own('weight')!, null, { stride: this.stride, padding: this.pads });
  }
}

const k = (h: number, w = h): [number, number] => [h, w];
const pad = (h: number, w = h): Pads => [h, h, w, w];

abstract class Block extends Module {
  readonly #convs = new Map<string, BasicConv2d>();
  protected bc(name: string, inC: number, outC: number, kernel: [number, number], stride = 1, pads: Pads = [0, 0, 0, 0]): void {
    this.#convs.set(name, this.child(name, new BasicConv2d(inC, outC, kernel, stride, pads)));
  }
  protected run(name: string, x: Tensor): Tensor {
    return this.#convs.get(name)!.forward(x);
  }
  protected chain(names: string[], x: Tensor): Tensor {
    return tidy(() => names.reduce((h, n) => this.run(n, h), x));
  }
  abstract override forward(x: Tensor): Tensor;
}

/** Mixed_5b–5d (FIDInceptionA: the pool excludes padding). */
class InceptionA extends Block {
  constructor(inC: number, poolFeatures: number) {
    super();
    this.bc('branch1x1', inC, 64, k(1));
    this.bc('branch5x5_1', inC, 48, k(1));
    this.bc('branch5x5_2', 48, 64, k(5), 1, pad(2));
    this.bc('branch3x3dbl_1', inC, 64, k(1));
    this.bc('branch3x3dbl_2', 64, 96, k(3), 1, pad(1));
    this.bc('branch3x3dbl_3', 96, 96, k(3), 1, pad(1));
    this.bc('branch_pool', inC, poolFeatures, k(1));
  }
  forward(x: Tensor): Tensor {
    return tidy(() =>
      cat([
        this.run('branch1x1', x),
        this.chain(['branch5x5_1', 'branch5x5_2'], x),
        this.chain(['branch3x3dbl_1', 'branch3x3dbl_2', 'branch3x3dbl_3'], x),
        this.run('branch_pool', F.avgPool2d(x, 3, { stride: 1, padding: 1, countIncludePad: false })),
      ], 1),
    );
  }
}

/** Mixed_6a (unchanged torchvision InceptionB). */
class InceptionB extends Block {
  constructor(inC: number) {
    super();
    this.bc('branch3x3', inC, 384, k(3), 2);
    this.bc('branch3x3dbl_1', inC, 64, k(1));
    this.bc('branch3x3dbl_2', 64, 96, k(3), 1, pad(1));
    this.bc('branch3x3dbl_3', 96, 96, k(3), 2);
  }
  forward(x: Tensor): Tensor {
    return tidy(() =>
      cat([this.run('branch3x3', x), this.chain(['branch3x3dbl_1', 'branch3x3dbl_2', 'branch3x3dbl_3'], x), F.maxPool2d(x, 3, { stride: 2 })], 1),
    );
  }
}

/** Mixed_6b–6e (FIDInceptionC: the pool excludes padding). */
class InceptionC extends Block {
  constructor(inC: number, c7: number) {
    super();
    this.bc('branch1x1', inC, 192, k(1));
    this.bc('branch7x7_1', inC, c7, k(1));
    this.bc('branch7x7_2', c7, c7, k(1, 7), 1, pad(0, 3));
    this.bc('branch7x7_3', c7, 192, k(7, 1), 1, pad(3, 0));
    this.bc('branch7x7dbl_1', inC, c7, k(1));
    this.bc('branch7x7dbl_2', c7, c7, k(7, 1), 1, pad(3, 0));
    this.bc('branch7x7dbl_3', c7, c7, k(1, 7), 1, pad(0, 3));
    this.bc('branch7x7dbl_4', c7, c7, k(7, 1), 1, pad(3, 0));
    this.bc('branch7x7dbl_5', c7, 192, k(1, 7), 1, pad(0, 3));
    this.bc('branch_pool', inC, 192, k(1));
  }
  forward(x: Tensor): Tensor {
    return tidy(() =>
      cat([
        this.run('branch1x1', x),
        this.chain(['branch7x7_1', 'branch7x7_2', 'branch7x7_3'], x),
        this.chain(['branch7x7dbl_1', 'branch7x7dbl_2', 'branch7x7dbl_3', 'branch7x7dbl_4', 'branch7x7dbl_5'], x),
        this.run('branch_pool', F.avgPool2d(x, 3, { stride: 1, padding: 1, countIncludePad: false })),
      ], 1),
    );
  }
}

/** Mixed_7a (unchanged torchvision InceptionD). */
class InceptionD extends Block {
  constructor(inC: number) {
    super();
    this.bc('branch3x3_1', inC, 192, k(1));
    this.bc('branch3x3_2', 192, 320, k(3), 2);
    this.bc('branch7x7x3_1', inC, 192, k(1));
    this.bc('branch7x7x3_2', 192, 192, k(1, 7), 1, pad(0, 3));
    this.bc('branch7x7x3_3', 192, 192, k(7, 1), 1, pad(3, 0));
    this.bc('branch7x7x3_4', 192, 192, k(3), 2);
  }
  forward(x: Tensor): Tensor {
    return tidy(() =>
      cat([
        this.chain(['branch3x3_1', 'branch3x3_2'], x),
        this.chain(['branch7x7x3_1', 'branch7x7x3_2', 'branch7x7x3_3', 'branch7x7x3_4'], x),
        F.maxPool2d(x, 3, { stride: 2 }),
      ], 1),
    );
  }
}

/** Mixed_7b (FIDInceptionE_1: average pool without padding counts) and Mixed_7c (FIDInceptionE_2: max pool). */
class InceptionE extends Block {
  constructor(
    inC: number,
    readonly pool: 'avg' | 'max',
  ) {
    super();
    this.bc('branch1x1', inC, 320, k(1));
    this.bc('branch3x3_1', inC, 384, k(1));
    this.bc('branch3x3_2a', 384, 384, k(1, 3), 1, pad(0, 1));
    this.bc('branch3x3_2b', 384, 384, k(3, 1), 1, pad(1, 0));
    this.bc('branch3x3dbl_1', inC, 448, k(1));
    this.bc('branch3x3dbl_2', 448, 384, k(3), 1, pad(1));
    this.bc('branch3x3dbl_3a', 384, 384, k(1, 3), 1, pad(0, 1));
    this.bc('branch3x3dbl_3b', 384, 384, k(3, 1), 1, pad(1, 0));
    this.bc('branch_pool', inC, 192, k(1));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const b3 = this.run('branch3x3_1', x);
      const bd = this.chain(['branch3x3dbl_1', 'branch3x3dbl_2'], x);
      const pooled = this.pool === 'avg' ? F.avgPool2d(x, 3, { stride: 1, padding: 1, countIncludePad: false }) : F.maxPool2d(x, 3, { stride: 1, padding: 1 });
      return cat([
        this.run('branch1x1', x),
        this.run('branch3x3_2a', b3),
        this.run('branch3x3_2b', b3),
        this.run('branch3x3dbl_3a', bd),
        this.run('branch3x3dbl_3b', bd),
        this.run('branch_pool', pooled),
      ], 1);
    });
  }
}

class Linear1008 extends Module {
  constructor() {
    super();
    this.param('weight', zeros([1008, 2048]));
    this.param('bias', zeros([1008]));
  }
  get weight(): Tensor {
    return this.own('weight')!;
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.own('weight')!, this.own('bias'));
  }
}

export interface InceptionOutputs {
  /** The 2048-d pool3 features (FID's). */
  pool: Tensor;
  /** pool · Wᵀ without the bias: the logits of the Inception Score (improved-gan's softmax/logits/MatMul). */
  logitsUnbiased: Tensor;
}

/** The FID Inception-v3 (weights zero until loaded: see `loadFidInception`). */
export class FidInceptionV3 extends Module {
  readonly #stages = new Map<string, Module>();
  readonly fc: Linear1008;
  constructor() {
    super();
    const stem: Array<[string, number, number, [number, number], number, Pads]> = [
      ['Conv2d_1a_3x3', 3, 32, k(3), 2, pad(0)],
      ['Conv2d_2a_3x3', 32, 32, k(3), 1, pad(0)],
      ['Conv2d_2b_3x3', 32, 64, k(3), 1, pad(1)],
      ['Conv2d_3b_1x1', 64, 80, k(1), 1, pad(0)],
      ['Conv2d_4a_3x3', 80, 192, k(3), 1, pad(0)],
    ];
    const add = (name: string, m: Module) => this.#stages.set(name, this.child(name, m));
    for (const [name, i, o, kk, s, p] of stem) add(name, new BasicConv2d(i, o, kk, s, p));
    add('Mixed_5b', new InceptionA(192, 32));
    add('Mixed_5c', new InceptionA(256, 64));
    add('Mixed_5d', new InceptionA(288, 64));
    add('Mixed_6a', new InceptionB(288));
    add('Mixed_6b', new InceptionC(768, 128));
    add('Mixed_6c', new InceptionC(768, 160));
    add('Mixed_6d', new InceptionC(768, 160));
    add('Mixed_6e', new InceptionC(768, 192));
    add('Mixed_7a', new InceptionD(768));
    add('Mixed_7b', new InceptionE(1280, 'avg'));
    add('Mixed_7c', new InceptionE(2048, 'max'));
    this.fc = this.child('fc', new Linear1008());
    this.eval();
  }

  /** Always evaluation mode: a fixed feature extractor whose batch norms use their running statistics. */
  override train(_on = true): this {
    return super.train(false);
  }

  /** Maps images (uint8 0–255 or float in [-1, 1]; 1 or 3 channels) to the network's 299×299 input in [-1, 1]. */
  static prepare(images: Tensor): Tensor {
    if (images.ndim !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3))
      throw new RangeError(`FID Inception: images must be [N, 1 or 3, H, W], got [${images.shape}]`);
    return tidy(() => {
      let x = images.dtype === 'uint8' ? images.float().div(255) : images.float().add(1).div(2);
      if (x.shape[1] === 1) x = x.expand([x.shape[0], 3, x.shape[2], x.shape[3]]).contiguous();
      if (x.shape[2] !== 299 || x.shape[3] !== 299) x = F.resizeBilinear(x, [299, 299], { alignCorners: false });
      return x.mul(2).sub(1);
    });
  }

  /** The 2048-d pool3 features of images (see `prepare` for the input convention). */
  forward(images: Tensor): Tensor {
    const { pool, logitsUnbiased } = this.outputs(images);
    logitsUnbiased.dispose();
    return pool;
  }

  /** pool3 features and the IS logits of images (see `prepare` for the input convention). */
  outputs(images: Tensor): InceptionOutputs {
    return tidy(() => {
      const run = (name: string, x: Tensor): Tensor => this.#stages.get(name)!.forward(x);
      let x = FidInceptionV3.prepare(images);
      x = run('Conv2d_2b_3x3', run('Conv2d_2a_3x3', run('Conv2d_1a_3x3', x)));
      x = F.maxPool2d(x, 3, { stride: 2 });
      x = run('Conv2d_4a_3x3', run('Conv2d_3b_1x1', x));
      x = F.maxPool2d(x, 3, { stride: 2 });
      for (const name of ['Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_6a', 'Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e', 'Mixed_7a', 'Mixed_7b', 'Mixed_7c']) x = run(name, x);
      const pool = F.adaptiveAvgPool2d(x, 1).flatten(1);
      return { pool, logitsUnbiased: pool.matmul(this.fc.weight.t()) };
    });
  }
}

/** Where the FID weights come from, for error messages. */
export const FID_WEIGHTS_HELP =
  "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (github.com/mseitzer/pytorch-fid releases; torch-fidelity re-hosts it as " +
  'weights-inception-2015-12-05-6726825d.pth). Convert it once with the system PyTorch: ' +
  '/usr/bin/python3 bench/ref/convert_pt.py pt_inception-2015-12-05-6726825d.pth fid-inception.safetensors';

/**
 * Loads the FID Inception from a safetensors file with torchvision's key names (`*.num_batches_tracked`
 * may be absent, as in some exports). A missing file says what to pass and where the weights come from.
 */
export async function loadFidInception(path: string): Promise<FidInceptionV3> {
  if (/\.(pth|pt)$/i.test(path)) throw new RangeError(`${path}: a PyTorch pickle; convert it to safetensors first — ${FID_WEIGHTS_HELP}`);
  if (!existsSync(path)) throw new RangeError(`FID Inception weights not found at ${path}. Pass the safetensors conversion of ${FID_WEIGHTS_HELP}`);
  const loaded = await readSafetensors(path);
  const net = new FidInceptionV3();
  try {
    const src = new Map(loaded.tensors);
    for (const [key, t] of net.stateDict()) if (key.endsWith('num_batches_tracked') && !src.has(key)) src.set(key, t);
    net.loadStateDict(src);
    return net;
  } catch (e) {
    net.dispose();
    throw e;
  } finally {
    for (const t of loaded.tensors.values()) t.dispose();
  }
}

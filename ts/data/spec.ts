// One string names a data set on the command line and in configs:
//   fashion-mnist | mnist:<dir> | cifar10:<dir> | images:<dir>
import { cifar10 } from './cifar.js';
import type { ImageDataset } from './dataset.js';
import { imageFolder } from './folder.js';
import { fashionMnist, mnistFolder } from './mnist.js';

export const DATA_SPECS = 'fashion-mnist | mnist:<dir> | cifar10:<dir> | images:<dir>';

/**
 * Opens a data set by spec. MNIST-layout data is padded to 32×32; `channels` picks 1 or 3 for image
 * folders. An image folder has no test split: 'test' is refused for it.
 */
export async function openDataset(spec: string, split: 'train' | 'test' = 'train', opts: { channels?: 1 | 3 } = {}): Promise<ImageDataset> {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const dir = colon < 0 ? '' : spec.slice(colon + 1);
  const needDir = () => {
    if (!dir) throw new RangeError(`data '${spec}': give a folder, e.g. ${kind}:/path/to/${kind}`);
    return dir;
  };
  switch (kind) {
    case 'fashion-mnist':
      return fashionMnist({ split, root: dir || undefined });
    case 'mnist':
      return mnistFolder(needDir(), { split });
    case 'cifar10':
      return cifar10(needDir(), { split });
    case 'images':
      if (split === 'test') throw new RangeError(`data '${spec}': an image folder has no test split`);
      return imageFolder(needDir(), { channels: opts.channels });
    default:
      throw new RangeError(`unknown data '${spec}' (${DATA_SPECS})`);
  }
}

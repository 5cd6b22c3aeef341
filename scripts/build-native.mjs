#!/usr/bin/env node
// Builds the native addon with cmake-js. Checks for libtorch first, so that a missing libtorch
// is one short message instead of a CMake dump. LANGEVIN_TORCH_DIR points at another libtorch
// (a folder holding TorchConfig.cmake, e.g. `python3 -c 'import torch;print(torch.utils.cmake_prefix_path)'`).
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

function findTorchConfig(dir) {
  if (!existsSync(dir)) return false;
  if (existsSync(join(dir, 'TorchConfig.cmake'))) return true;
  // torch.utils.cmake_prefix_path is the parent of Torch/TorchConfig.cmake
  return existsSync(join(dir, 'Torch', 'TorchConfig.cmake'));
}

const override = process.env.LANGEVIN_TORCH_DIR;
const defaults = ['/usr/lib/x86_64-linux-gnu/cmake/Torch', '/usr/lib/aarch64-linux-gnu/cmake/Torch'];
if (override ? !findTorchConfig(override) : !defaults.some(findTorchConfig)) {
  const where = override
    ? `LANGEVIN_TORCH_DIR=${override} holds no TorchConfig.cmake`
    : 'libtorch was not found';
  console.error(`langevin: ${where}. Install it with \`apt-get install libtorch-dev\` (Debian 12), ` +
    `or set LANGEVIN_TORCH_DIR to a folder with TorchConfig.cmake, e.g. ` +
    `"$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')".`);
  process.exit(1);
}
for (const tool of ['cmake', 'c++']) {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.error(`langevin: \`${tool}\` was not found; install it with \`apt-get install cmake g++\`.`);
    process.exit(1);
  }
}

const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '--directory', root];
if (process.env.LANGEVIN_PARALLEL) args.push('--parallel', process.env.LANGEVIN_PARALLEL);
const quiet = !process.env.LANGEVIN_VERBOSE_BUILD;
// ccache: hash paths relative to the package so clones and installs elsewhere hit the same cache.
const env = { CCACHE_BASEDIR: root, CCACHE_NOHASHDIR: 'true', ...process.env };
const run = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', stdio: quiet ? 'pipe' : 'inherit' });
if (run.status !== 0) {
  if (quiet) {
    // Show the compiler's complaint, not the whole log.
    const log = `${run.stdout ?? ''}\n${run.stderr ?? ''}`.split('\n');
    const errors = log.filter((l) => /error|Error|ERR!/.test(l)).slice(0, 20);
    console.error((errors.length ? errors : log.slice(-30)).join('\n'));
    console.error('langevin: the native build failed (rerun with LANGEVIN_VERBOSE_BUILD=1 for the full log).');
  }
  process.exit(run.status ?? 1);
}
const built = join(root, 'build', 'Release', 'langevin.node');
if (!existsSync(built)) {
  console.error(`langevin: the build finished but ${built} is missing (found: ${readdirSync(join(root, 'build')).join(', ')}).`);
  process.exit(1);
}

#!/usr/bin/env bash
# Proves the package installs as a user gets it: npm pack → install the tarball into an empty
# project (which builds the addon) → import it and compute.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${LANGEVIN_PACK_DIR:-/tmp/langevin-pack-check}"   # a fixed path keeps ccache hits across runs
rm -rf "$work" && mkdir -p "$work/app"
tarball="$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -1)"
cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund "$work/$tarball" >/dev/null
cat > check.mjs <<'JS'
import { ones, buildInfo, nn } from 'langevin';
const a = ones([2, 2]);
const y = a.matmul(a).toList();
if (JSON.stringify(y) !== '[[2,2],[2,2]]') throw new Error(`unexpected ${JSON.stringify(y)}`);
if (typeof nn.F.conv2d !== 'function') throw new Error('nn.F.conv2d missing');
console.log(`pack-check: installed ${process.argv[2]} and computed on libtorch ${buildInfo().libtorch}`);
JS
node check.mjs "$tarball"
npx --no-install langevin info >/dev/null

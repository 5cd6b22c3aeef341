#!/usr/bin/env bash
# Takes a fresh Debian 12 machine (root, Node 20) to a working langevin checkout:
# system packages from apt when missing, then `npm ci` (which builds the native addon and dist/).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ ninja-build libtorch-dev libopenblas0-pthread python3-torch python3-scipy python3-torchvision dataset-fashion-mnist ccache)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "bootstrap: npm ci (builds the native addon against $(dpkg-query -W -f='libtorch ${Version}' libtorch-dev 2>/dev/null || echo 'LANGEVIN_TORCH_DIR'))"
npm ci --no-audit --no-fund

#!/usr/bin/env bash
# FD-FMNIST, KID-FMNIST and IS-FMNIST of 2,000 DDIM-50 samples of the shipped ddpmTiny checkpoint
# (EMA weights) against 2,000 Fashion-MNIST test images, with the data floors.
#   bash scripts/experiments/ddpm-metrics.sh [threads]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
cli="node dist/cli/main.js"
art=artifacts/ddpm-fmnist-tiny
mkdir -p runs
[ -f runs/ddpm-2000.safetensors ] || $cli ddpm sample $art/model.safetensors --count 2000 --batch 250 --sampler ddim --steps 50 \
  --seed 0 --threads "$threads" --out runs/ddpm-2000.safetensors
for m in fd kid; do
  $cli metrics $m runs/ddpm-2000.safetensors fashion-mnist@test --count 2000 --threads "$threads" --json > "$art/$m-fmnist-2000.json"
done
$cli metrics is runs/ddpm-2000.safetensors --threads "$threads" --json > "$art/is-fmnist-2000.json"

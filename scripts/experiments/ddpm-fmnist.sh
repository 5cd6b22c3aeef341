#!/usr/bin/env bash
# DDPM ddpmTiny on Fashion-MNIST (CPU) beside the PyTorch reference trained with the same config,
# seed policy and steps (3 seeds), then bits/dim, sample grids and the demo weights.
#   bash scripts/experiments/ddpm-fmnist.sh [steps] [threads]
# Runs land in runs/ (large) and artifacts/ddpm-fmnist-tiny/ (small, committed).
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-1600}
threads=${2:-1}
cli="node dist/cli/main.js"
art=artifacts/ddpm-fmnist-tiny
mkdir -p "$art" runs
# The reference starts from langevin's initial weights for each seed (same init stream).
node -e "
const L = await import('./dist/index.js');
for (const s of [0, 1, 2]) await L.nn.unet('ddpmTiny', { generator: new L.Generator(L.train.streamSeed(s, 'init')) }).saveWeights('runs/init-tiny-s' + s + '.safetensors');
" --input-type=module
$cli ddpm train --preset ddpmTiny --data fashion-mnist --steps "$steps" --seed 0 --threads "$threads" \
  --out runs/fmnist-tiny-s0 --eval-every 200 --checkpoint-every 200 --sample-every 400 --resume &
for s in 0 1 2; do
  /usr/bin/python3 bench/ref/diffusion.py train --init runs/init-tiny-s$s.safetensors --seed $s --steps "$steps" \
    --out runs/ref-tiny-s$s --eval-every 200 --threads 1 &
done
wait
node scripts/experiments/ddpm-compare.mjs "$art" runs/fmnist-tiny-s0 runs/ref-tiny-s0 runs/ref-tiny-s1 runs/ref-tiny-s2
$cli ddpm export runs/fmnist-tiny-s0/latest.safetensors --weights ema --out "$art/model.safetensors"
$cli ddpm sample "$art/model.safetensors" --sampler ddim --steps 50 --count 36 --seed 0 --scale 2 --out "$art/samples-ddim50.png" --threads 2
$cli ddpm sample "$art/model.safetensors" --sampler ancestral --count 8 --seed 0 --snapshot-every 100 --scale 2 --out "$art/samples-ancestral.png" --threads 2
$cli ddpm bpd "$art/model.safetensors" --count 32 --batch 32 --threads 2 --json > "$art/bpd.json"
cp runs/fmnist-tiny-s0/log.jsonl "$art/log.jsonl"

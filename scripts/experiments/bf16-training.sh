#!/usr/bin/env bash
# Mixed-precision DDPM training: ddpmTiny on Fashion-MNIST for 1,600 steps with --compute-dtype
# bfloat16 (seed 0, the float32 run's data order and draws), compared with the float32 run behind
# the shipped model (its log and the PyTorch seeds' spread in artifacts/ddpm-fmnist-tiny), then
# 2,000 DDIM-50 samples of its EMA weights (float32 sampling, seed 0) scored with FD-FMNIST and KID
# like the float32 model's in bf16-equivalence.jsonl. Results: artifacts/ddpm-fmnist-tiny/bf16-training.json.
#   bash scripts/experiments/bf16-training.sh [threads]
source "$(dirname "$0")/common.sh"
threads=${1:-2}
art=artifacts/ddpm-fmnist-tiny
run=runs/fmnist-tiny-bf16-s0
mkdir -p runs
$cli ddpm train --preset ddpmTiny --data fashion-mnist --steps 1600 --seed 0 --threads "$threads" --compute-dtype bfloat16 \
  --out $run --eval-every 200 --checkpoint-every 400 --sample-every 800 --resume
$cli ddpm export $run/latest.safetensors --weights ema --out runs/bf16-trained.safetensors
f=runs/ddpm-2000-bf16trained-s0.safetensors
[ -f "$f" ] || $cli ddpm sample runs/bf16-trained.safetensors --count 2000 --batch 250 --sampler ddim --steps 50 \
  --seed 0 --compute-dtype float32 --threads "$threads" --out "$f"
fd=$($cli metrics fd "$f" fashion-mnist@test --count 2000 --threads "$threads" --json | $compact)
kid=$($cli metrics kid "$f" fashion-mnist@test --count 2000 --threads "$threads" --json | $compact)
node -e "
const fs = require('fs');
const cmp = JSON.parse(process.argv[1]);
const fp32 = fs.readFileSync('$art/bf16-equivalence.jsonl', 'utf8').trim().split('\n').map(JSON.parse).filter((r) => r.computeDtype === 'float32');
cmp.samples = { bf16Trained: { fd: JSON.parse(process.argv[2]).value, kid: JSON.parse(process.argv[3]).value, kidStd: JSON.parse(process.argv[3]).std },
  float32Trained: fp32.map((r) => ({ seed: r.seed, fd: r.fd.value, kid: r.kid.value, kidStd: r.kid.std })) };
fs.writeFileSync('$art/bf16-training.json', JSON.stringify(cmp, null, 2) + '\n');
" "$(node scripts/experiments/bf16-training-compare.mjs $run $art/log.jsonl $art/compare.json)" "$fd" "$kid"
cp $run/samples/step-0001600.png $art/samples-bf16-trained.png 2>/dev/null || true
cat $art/bf16-training.json

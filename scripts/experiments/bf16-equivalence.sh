#!/usr/bin/env bash
# Are bfloat16-compute samples equivalent to float32 ones? 2,000 DDIM-50 samples of the shipped
# ddpmTiny (EMA) per (compute dtype, seed), seeds 0 and 1: FD-FMNIST and KID-FMNIST of each against
# 2,000 test images, and per-pixel differences between same-seed pairs. Results in
# artifacts/ddpm-fmnist-tiny/bf16-equivalence.jsonl.
#   bash scripts/experiments/bf16-equivalence.sh [threads]
source "$(dirname "$0")/common.sh"
threads=${1:-2}
art=artifacts/ddpm-fmnist-tiny
out=$art/bf16-equivalence.jsonl
mkdir -p runs
: > "$out"
for seed in 0 1; do
  for dt in float32 bfloat16; do
    f=runs/ddpm-2000-$dt-s$seed.safetensors
    [ -f "$f" ] || $cli ddpm sample $art/model.safetensors --count 2000 --batch 250 --sampler ddim --steps 50 \
      --seed $seed --compute-dtype $dt --threads "$threads" --out "$f"
    fd=$($cli metrics fd "$f" fashion-mnist@test --count 2000 --threads "$threads" --json | $compact)
    kid=$($cli metrics kid "$f" fashion-mnist@test --count 2000 --threads "$threads" --json | $compact)
    echo "{\"seed\":$seed,\"computeDtype\":\"$dt\",\"fd\":$fd,\"kid\":$kid}" >> "$out"
  done
  echo "{\"seed\":$seed,\"pixels\":$(node scripts/experiments/compare-samples.mjs runs/ddpm-2000-float32-s$seed.safetensors runs/ddpm-2000-bfloat16-s$seed.safetensors)}" >> "$out"
done
cat "$out"

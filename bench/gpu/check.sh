#!/usr/bin/env bash
# One command for a GPU session (see docs/status.md, issue #8): build the addon with plain cmake
# against the local PyTorch's libtorch, print the build info, run the device smoke tests with Node's
# built-in runner on compiled JS (tap stays behind), then the speed table's GPU rows against the
# local PyTorch (bench/run.mjs --rows speed-cuda: both sides cudnn.benchmark + TF32, NCHW; capped by
# BENCH_TIMEOUT seconds, default 330). Everything lands in $OUT as it goes, so a
# cut-off run still reports. Dry-run on CPU: `OUT=/tmp/gpu bash bench/gpu/check.sh` (Debian's
# libtorch; the tests then run on the CPU).
#
# Carry to the GPU machine: dist/, node_modules/node-addon-api, node_modules/node-api-headers, and
# a node binary (NODE=path; this machine's `node` xz-compressed is ~24 MB and self-contained).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-bench/gpu/out}
mkdir -p "$out"
node=${NODE:-node}
log() { echo "[$(date +%T)] $*" | tee -a "$out/check.log"; }

torch_dir=${LANGEVIN_TORCH_DIR:-$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)' 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/cmake/Torch)}
log "libtorch from $torch_dir"
build=${BUILD_DIR:-build-gpu}
generator=$(command -v ninja >/dev/null && echo "-G Ninja" || true)
if LANGEVIN_TORCH_DIR="$torch_dir" cmake -S . -B "$build" $generator -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include;$PWD/node_modules/node-addon-api" \
     > "$out/cmake-configure.log" 2>&1 \
   && cmake --build "$build" -j "$(nproc)" > "$out/cmake-build.log" 2>&1; then
  log "built $build/langevin.node"
else
  log "BUILD FAILED (tail of the logs follows)"; tail -40 "$out/cmake-configure.log" "$out/cmake-build.log" | tee -a "$out/check.log"; exit 1
fi
export LANGEVIN_ADDON="$PWD/$build/langevin.node"
"$node" dist/cli/main.js info --json > "$out/info.json" 2>&1 && log "info: $(tr -d '\n ' < "$out/info.json" | cut -c1-200)"
"$node" --test --test-reporter=spec bench/gpu/smoke.test.mjs > "$out/smoke.log" 2>&1
log "smoke tests exit $? ($(sed -nE 's/^ℹ pass ([0-9]+)/\1/p' "$out/smoke.log") passed, $(sed -nE 's/^ℹ fail ([0-9]+)/\1/p' "$out/smoke.log") failed; $out/smoke.log)"
# The first python with torch (the GPU machine's python3; Debian's /usr/bin/python3 on a dry run).
python=${PYTHON:-}
if [ -z "$python" ]; then
  for p in python3 /usr/bin/python3; do "$p" -c 'import torch' 2>/dev/null && { python=$p; break; }; done
fi
python=${python:-python3}
# On CUDA the speed table's GPU rows; on a CPU dry run one CPU row, one pair (it checks the plumbing).
if grep -q '"cudaAvailable": *true' "$out/info.json"; then
  device=cuda rows=${BENCH_ROWS:-speed-cuda} pairs=${BENCH_PAIRS:-2}  # 10 rows: ~5 min on an H200 (estimate)
else
  device=cpu rows=${BENCH_ROWS:-sample 10 ancestral steps ddpmCifar10 b8 bf16 vs PyTorch fp32} pairs=${BENCH_PAIRS:-1}
fi
log "bench: --rows '$rows' --device $device --pairs $pairs (python: $python)"
timeout "${BENCH_TIMEOUT:-330}" "$node" bench/run.mjs --rows "$rows" --device "$device" --threads "${BENCH_THREADS:-1}" --pairs "$pairs" \
  --iters 1 --warmup 1 --min-ms 0 --python "$python" --json "$out/bench.json" > "$out/bench.md" 2> "$out/bench.log"
log "bench exit $? ($out/bench.md; each row as it finished: $out/bench.log)"

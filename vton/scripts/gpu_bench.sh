#!/usr/bin/env bash
# Seconds per image of FASHN VTON v1.5 (published configuration, random weights, bf16) on a CUDA
# GPU, to compare with FASHN's published ~5 s per image on an H100 (30 steps, CFG 1.5).
# Run from the repository root on a machine with the CUDA toolkit (nvcc) and a GPU:
#   bash vton/scripts/gpu_bench.sh [STEPS]     (default 30 = one image)
# Prints each step's seconds, the mean, seconds per 30-step image, and the GPU's peak memory.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS="${1:-30}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
cargo build --release -p atelier-vton --features cuda --example bench_step
BIN="${CARGO_TARGET_DIR:-target}/release/examples/bench_step"
# Sample the GPU's memory while the benchmark runs.
( while sleep 0.5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; done ) \
  > /tmp/vton-gpu-mem.txt 2>/dev/null &
SAMPLER=$!
trap 'kill $SAMPLER 2>/dev/null || true' EXIT
"$BIN" --cuda --bf16 --steps "$STEPS"
kill "$SAMPLER" 2>/dev/null || true
echo "peak GPU memory used (MiB, whole GPU): $(sort -n /tmp/vton-gpu-mem.txt | tail -1)"

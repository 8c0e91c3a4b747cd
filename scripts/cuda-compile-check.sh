#!/usr/bin/env bash
# Compiles the CUDA kernels (no link, no GPU needed) with the CUDA toolkit when one is installed, so
# they cannot rot between GPU runs. CI runs it; it is a no-op without nvcc.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC="${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
if [ ! -x "$NVCC" ]; then
  echo "cuda-compile-check: no nvcc found; skipped"
  exit 0
fi
cmake -S . -B build/cuda-check -DCHATBERT_CUDA_COMPILE_CHECK=ON -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_BUILD_TYPE=Release > build/cuda-check.log 2>&1 ||
  { cat build/cuda-check.log; exit 1; }
cmake --build build/cuda-check --target chatbert_cuda_check chatbert_cuda_glue_check -j2
echo "cuda-compile-check: native/ops/*.cu compiled for sm_80 and sm_90, and the ATen-side CUDA sources (unmask glue, IMR graphs) against this Torch's CUDA headers, with $("$NVCC" --version | tail -2 | head -1)"

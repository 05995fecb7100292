#!/usr/bin/env bash
# Run ON the GPU machine, in one call (under 10 minutes): installs nothing from the net (wheels from .whl/, see
# gpu_wheels.sh), times the renderer on full-size random-weight SD 1.x, then runs the test
# suite on CUDA in float16. Results go to $OUT (or benchmarks/out) for benchmarks/RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
(cd benchmarks && timeout 130 python3 pipelines_speed.py --size 512 --batches 1,16,64 --repeats 1) 2>&1 \
  | grep -v "should be kept in float32" | tee "$OUT/pipelines_speed.md"
(cd benchmarks && timeout 110 python3 render_speed.py --frames 8 --steps 50 --size 512 --batches 1,4) 2>&1 \
  | grep -v "should be kept in float32" | tee "$OUT/render_speed.md"
(cd benchmarks && timeout 70 python3 grid_speed.py --model random-sd1 --size 512 --steps 25 --values 5) 2>&1 \
  | grep -v "should be kept in float32" | tee "$OUT/grid_speed.md"
# the studio and Ray tests need Gradio, Chromium and Ray, which the GPU image lacks; 8 pytest workers (xdist is there)
NETBEND_TEST_DEVICE=cuda timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 --maxfail 20 tests \
  --ignore tests/test_studio.py --ignore tests/test_distributed.py 2>&1 | tee "$OUT/tests_cuda_full.txt" | tail -40

#!/usr/bin/env bash
# Run HERE (not on the GPU machine): download the wheels that the GPU machine's image lacks
# into .whl/ (git-ignored through .git/info/exclude), for Python 3.12 on x86_64.
# Then: device run with carry [".whl"] and command "bash benchmarks/gpu.sh".
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude || echo /.whl/ >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  diffusers==0.42.1 peft==0.21.2 av==18.1.0 soundfile==0.14.0 cffi pycparser importlib_metadata \
  transformers==5.24.0 huggingface_hub==2.4.0 librosa==0.11.0 audioread==3.1.0 soxr==1.1.0 pooch==1.9.0 \
  decorator==5.3.1 platformdirs kornia==0.9.0 kornia_rs==0.2.0
du -sh .whl

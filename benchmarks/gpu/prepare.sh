#!/usr/bin/env bash
# Prepare the GPU benchmark (benchmarks/gpu/run.sh) HERE, before calling the device tool.
#
# The device machine has Python 3.12 with torch, numpy, numba, scipy, OpenCV and PyYAML, but not
# av, zarr, ultralytics or lap, and it cannot reach ../shared or the internet. This downloads
# wheels of those packages for its Python into .whl/ and copies the benchmark data (the real
# footage and the PETS09 detections) into .benchdata/. Both folders are git-ignored (never
# committed: the data is non-commercial) and travel only because the device call names them in
# `carry` (about 48 MiB together, under the 64 MiB a call carries). Delete them afterwards.
#
# Usage, from anywhere:  bash benchmarks/gpu/prepare.sh [DATA]   (DATA: default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-../shared/data}"
[ -d "$data/video" ] || { echo "prepare.sh: no video/ folder in $data" >&2; exit 1; }

# the versions tested here; one version of each, or the install there stops
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    av==18.1.0 zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0 \
    ultralytics==8.4.190 lap==0.5.13

rm -rf .benchdata
mkdir -p .benchdata/MOT15
cp -r "$data/video" .benchdata/
cp -r "$data/MOT15/PETS09-S2L1" .benchdata/MOT15/
du -sh .whl .benchdata
echo "ready: device run with carry [\".whl\", \".benchdata\"] and command"
echo "  bash benchmarks/gpu/run.sh"

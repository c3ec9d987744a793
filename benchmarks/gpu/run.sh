#!/usr/bin/env bash
# The GPU benchmark of the pipeline in one device call: results land in $OUT.
#
# Runs on the lent GPU machine, from the repository root, after benchmarks/gpu/prepare.sh here:
#   device run, carry [".whl", ".benchdata"], timeout_s 600, command: bash benchmarks/gpu/run.sh
# Then commit $OUT/pipeline_gpu.json and $OUT/pipeline_gpu_rss.json under benchmarks/results/.
#
# 1. installs the carried wheels (.whl/) into /tmp/site and trackannot itself (editable, so that
#    trackannot.kernels maps to kernels/ as here); the machine's own torch is used;
# 1b. the tests whose CUDA cases run only where CUDA is (NVDEC frames equal the CPU decoder's,
#    pinned YUV batches converted on the GPU, the half-precision detector's boxes against the
#    CPU's): tests/test_decode.py, tests/test_frames.py, tests/detect/test_pixels.py and
#    tests/detect/test_device.py, on the carried videos (TRACKANNOT_DATA);
# 2. stages (python -m benchmarks.bench_pipeline): decode, detect alone, end to end, for batch
#    sizes 1, 8, 32 and 64 on the real footage and on 60 s 720p and 1080p H.264 clips made there,
#    4 copies of each made clip with 4 videos in flight, and ultralytics' track(stream=True) on
#    300 frames, 3 interleaved rounds; half precision, imgsz 640, random-init yolo11n;
#    batches are YUV planes converted on the GPU (decode.pixel_format auto);
# 3. peak RSS of end to end on a 1-minute and a 30-minute 1080p clip, in fresh processes.
# Each step has a time limit, so the call ends inside the device tool's 10 minutes (about 9),
# and what was measured comes back even when a step runs out of time (the stages' JSON is
# rewritten after each of its rounds).
#
# Settings (environment; the defaults are the GPU run): BENCH_DEVICE (cuda), BENCH_DATA
# (.benchdata), BENCH_TESTS (the test files of 1b; empty: none), BENCH_STAGE_ARGS,
# BENCH_RSS_ARGS, BENCH_TEST_TIMEOUT (60 s), BENCH_STAGE_TIMEOUT (300 s), BENCH_RSS_TIMEOUT
# (150 s), BENCH_INSTALL (1 when .whl/ exists: install it; 0: use what is installed), OUT
# (benchmarks/out/gpu when unset). tests/benchmarks_pipeline/test_gpu_script.py runs
# this script on the CPU with tiny settings.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-benchmarks/out/gpu}"
mkdir -p "$OUT"
device="${BENCH_DEVICE:-cuda}"
data="${BENCH_DATA:-.benchdata}"
stage_args="${BENCH_STAGE_ARGS:---batch-sizes 1 8 32 64 --seconds 60 --detect-frames 256 \
--detect-seconds 1 --ultra-frames 300 --many-jobs 4 --repeats 3}"
rss_args="${BENCH_RSS_ARGS:---rss-seconds 60 1800 --rss-size 1920x1080}"
export PYTHONUNBUFFERED=1 YOLO_OFFLINE=1

if [ "${BENCH_INSTALL:-$([ -d .whl ] && echo 1 || echo 0)}" = 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
fi
{
    nvidia-smi 2>&1 || echo "no nvidia-smi"
    nproc
    python3 -c "import torch, av, zarr, ultralytics, trackannot.kernels; print('torch', \
torch.__version__, 'cuda', torch.cuda.is_available(), 'av', av.__version__, 'zarr', \
zarr.__version__, 'ultralytics', ultralytics.__version__)"
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

status=0
tests="${BENCH_TESTS-tests/test_decode.py tests/test_frames.py tests/detect/test_pixels.py \
tests/detect/test_device.py}"
if [ -n "$tests" ]; then
    # shellcheck disable=SC2086
    TRACKANNOT_DATA="$data" timeout "${BENCH_TEST_TIMEOUT:-60}" python3 -m pytest -q \
        -p no:cacheprovider -W default $tests > "$OUT/gpu_tests.log" 2>&1 || status=$?
    tail -n 15 "$OUT/gpu_tests.log"
fi
# shellcheck disable=SC2086  # the argument strings are split on purpose
timeout "${BENCH_STAGE_TIMEOUT:-300}" python3 -m benchmarks.bench_pipeline --device "$device" \
    --data "$data" $stage_args --rss-seconds --out "$OUT/pipeline_gpu.json" \
    > "$OUT/stages.log" 2>&1 || status=$?
tail -n 40 "$OUT/stages.log"
# shellcheck disable=SC2086
timeout "${BENCH_RSS_TIMEOUT:-150}" python3 -m benchmarks.bench_pipeline --device "$device" \
    --data "$data" --rss-only $rss_args --out "$OUT/pipeline_gpu_rss.json" \
    > "$OUT/rss.log" 2>&1 || status=$?
tail -n 10 "$OUT/rss.log"
exit "$status"

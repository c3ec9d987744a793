#!/usr/bin/env bash
# Create benchmarks/.venv-peers: the peer trackers for benchmarks/bench_tracking.py, kept apart from
# the main environment (boxmot pins filterpy<2, opencv-python<5 and pandas<3).
#
# The venv sees the main environment's packages (--system-site-packages: numpy, scipy, torch,
# supervision, numba, trackeval and the editable trackannot), so ours and the peers run on the very
# same numpy/scipy builds. Only the peers and the few modules they import are added on top.
#
# Usage (from the repository root):  bash benchmarks/setup_peers.sh [--native]
#   --native: also build boxmot's optional C++ ByteTrack/OcSort backend (CMake; needs a C++
#             compiler, OpenCV 4 and Eigen3 headers: installed with apt-get when run as root).
# Then:                              benchmarks/.venv-peers/bin/python -m benchmarks.bench_tracking
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERS_VENV:-$here/.venv-peers}"  # PEERS_VENV: another location
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv --system-site-packages "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet)

# Roboflow trackers: its declared dependencies are satisfied by (or compatible with) the main env.
"${pip[@]}" -r "$here/requirements-peers.txt"
# boxmot without its declared dependencies (they would downgrade filterpy/opencv/pandas in a shared
# site and pull in detector/ReID stacks); then the modules ByteTrack/OcSort need at import and run.
"${pip[@]}" --no-deps -r "$here/requirements-peers-nodeps.txt"
# pip then reports "boxmot 25.0.0 requires ..., which is not installed / incompatible": expected,
# those dependencies are deliberately left out (the smoke test below is the check that matters).
"${pip[@]}" -r "$here/requirements-peers-boxmot-runtime.txt"

# Smoke test: every peer imports and runs one frame.
"$venv/bin/python" - <<'PY'
import numpy as np
from trackers import ByteTrackTracker  # noqa: F401
from boxmot.trackers.box.bytetrack.tracker import ByteTrack
from boxmot.trackers.box.ocsort.tracker import OcSort
dets = np.array([[10, 10, 50, 90, 0.9, 0]], dtype=np.float32)
img = np.zeros((480, 640, 3), dtype=np.uint8)
for cls in (ByteTrack, OcSort):
    cls().update(dets, img)
print("peers OK")
PY

if [[ "${1:-}" == "--native" ]]; then
    need=()
    command -v cmake >/dev/null || need+=(cmake)
    command -v g++ >/dev/null || need+=(g++)
    [[ -f /usr/lib/x86_64-linux-gnu/cmake/opencv4/OpenCVConfig.cmake ]] || need+=(libopencv-dev)
    [[ -d /usr/include/eigen3 ]] || need+=(libeigen3-dev)
    if (( ${#need[@]} )); then
        if [[ $(id -u) -ne 0 ]]; then
            echo "--native needs: ${need[*]} (apt-get install --no-install-recommends ...)" >&2
            exit 1
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
    "$venv/bin/python" - <<'PY'
from boxmot.native.trackers.bytetrack import ensure_bytetrack_cpp_library
from boxmot.native.trackers.ocsort import ensure_ocsort_cpp_library
print(ensure_bytetrack_cpp_library())
print(ensure_ocsort_cpp_library())
PY
fi

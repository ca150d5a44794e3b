#!/usr/bin/env bash
# The first thing to run on a machine with a GPU: every CUDA path of audiogen, one line per
# check (PASS / FAIL / SKIP, seconds, what was measured), under 5 minutes on one GPU.
#
#   bench/gpu_check.sh            # on the GPU machine
#   bench/gpu_check.sh --dry-run  # anywhere: each step checks its inputs and says what it would do
#   bench/gpu_check.sh --only fast-parity generate
#
# The checks are listed in bench/gpu_check.py. Exit status: the number of failed checks.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
cd "$root" || exit 1
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec timeout 600 "$python" bench/gpu_check.py "$@"

#!/usr/bin/env bash
# Builds .venv-ref: the reference implementation (audiocraft 1.3.0) for parity fixtures and
# benchmarks. Not needed to use or test audiogen: CI checks parity against committed fixtures.
# audiocraft's pins (torch 2.1, xformers) do not install here, so it goes in with --no-deps and
# the stand-ins in tools/reference/stubs are put first on PYTHONPATH (see `python_ref` below).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv .venv-ref
.venv-ref/bin/pip install -q torch==2.13.0 numpy scipy soundfile soxr julius einops omegaconf \
    hydra-core flashy num2words av torchmetrics transformers sentencepiece safetensors librosa
.venv-ref/bin/pip install -q --no-deps audiocraft==1.3.0
echo "reference environment ready: run scripts with tools/reference/python_ref SCRIPT"

"""bench/gpu_check.sh --dry-run: every check runs its own code on the CPU at a tiny size."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ("fast-parity", "generate", "lm-train-bf16", "lm-train-fp16", "codec-train", "ddp",
          "bench")


@pytest.mark.slow
def test_gpu_check_dry_run_goes_end_to_end():
    result = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run"],
                            capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = [ln.split() for ln in result.stdout.splitlines()
             if ln[:4] in ("DRY ", "SKIP", "FAIL", "PASS")]
    assert [ln[1] for ln in lines] == list(CHECKS)
    statuses = {ln[1]: ln[0] for ln in lines}
    assert all(statuses[name] == "DRY" for name in CHECKS[:5]), result.stdout
    assert result.stdout.count("would:") == len(CHECKS)

"""Codec training under `torchrun --nproc_per_node 2` on CPU (gloo)."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.train.metrics import read_metrics

WORKER = Path(__file__).parent / "_ddp_codec_worker.py"


@pytest.mark.slow  # about 20 s, most of it starting two Python processes
def test_two_process_training_keeps_ranks_in_sync(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    t = np.arange(16000) / 16000
    for i, freq in enumerate((220.0, 550.0)):
        sf.write(str(data / f"{i}.wav"), (0.3 * np.sin(2 * math.pi * freq * t)).astype(np.float32),
                 16000)
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(WORKER), str(data), str(run)],
        check=False, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(run / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert [r["local_batch"] for r in ranks] == [2, 2]  # global batch 4 split in two
    a, b = ranks[0]["state"], ranks[1]["state"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs between ranks"
    # rank 0 alone logs and checkpoints
    rows = read_metrics(run / "metrics.jsonl", "train")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(math.isfinite(r["g/mel"]) for r in rows)
    assert (run / "checkpoints" / "step_00000003" / "codec.safetensors").is_file()
    assert (run / "model" / "codec.json").is_file()

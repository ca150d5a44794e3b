import os

import pytest
import torch

# Tests must pass offline: nothing may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One thread: the tests use tiny models, where a second thread only adds overhead (and on a
# shared machine oversubscription made them 10-30x slower).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts on one thread, whatever the test before it set (CLI runs take
    --threads, trainers take num_threads)."""
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _grad_mode_is_not_leaked():
    """A test (or a CLI command run in-process) must not leave autograd switched off."""
    yield
    assert torch.is_grad_enabled(), "grad mode was left disabled (use a no_grad context instead)"
    torch.set_grad_enabled(True)

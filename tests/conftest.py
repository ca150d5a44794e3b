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
def _seed():
    torch.manual_seed(0)

"""Records the operations that would make the host wait for a GPU, on any device (a CPU run
shows where a CUDA run would stall).

.item(), bool(), int() and float() of a tensor go through `_local_scalar_dense`; the others
return shapes that depend on the data. (Not seen: `.tolist()` and `.cpu()` of a CPU tensor,
which dispatch nothing; count those by hand where they matter.)
"""

from __future__ import annotations

import traceback

from torch.utils._python_dispatch import TorchDispatchMode

SYNCING = {"_local_scalar_dense", "nonzero", "masked_select", "unique_dim", "_unique2",
           "is_nonzero", "equal"}


class SyncRecorder(TorchDispatchMode):
    """`with SyncRecorder() as r: ...` then `r.seen`: the syncing ops, in order.

    ignore: path fragments of code whose reads are of tensors kept on the CPU on every device
    (e.g. "torch/optim/": AdamW's step counters), so not stalls on a GPU either.
    """

    def __init__(self, ignore: tuple[str, ...] = ()):
        super().__init__()
        self.seen: list[str] = []
        self.ignore = ignore

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if name in SYNCING and not self._ignored():
            self.seen.append(name)
        return func(*args, **(kwargs or {}))

    def _ignored(self) -> bool:
        return any(part in frame.filename for frame in traceback.extract_stack()
                   for part in self.ignore)

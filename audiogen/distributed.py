"""Data-parallel helpers: one process per device, started by `torchrun`.

`torchrun --nproc_per_node N` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT;
`init()` reads them and joins the process group (NCCL on CUDA, gloo on CPU). Without them
everything here is a no-op for a single process, so trainers call these helpers unconditionally.

Gradients are averaged explicitly after the backward pass (`sync_gradients`) rather than through
`DistributedDataParallel`'s hooks: the codec's balancer differentiates the losses with respect to
the decoded audio before back-propagating, and explicit averaging works with any such pattern.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

import torch
import torch.distributed as dist

from audiogen.device import resolve_device


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on the process that logs, shows progress and writes checkpoints."""
    return rank() == 0


def init(device: str = "cpu") -> torch.device:
    """Join the process group if started by torchrun; return the device this process uses.

    `device`: a name resolve_device takes ("auto": CUDA when available). On CUDA without an
    index, each process takes the GPU numbered LOCAL_RANK modulo the GPUs it can see.
    """
    torch_device = resolve_device(device)
    if torch_device.type == "cuda" and torch_device.index is None:
        # LOCAL_RANK counts the processes on this node; a launcher that shows each process
        # only its own GPU (CUDA_VISIBLE_DEVICES=one id) leaves device_count() == 1, where
        # cuda:{LOCAL_RANK} would not exist
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch_device = torch.device("cuda", local_rank % torch.cuda.device_count())
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not is_distributed():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=torch_device
                                if torch_device.type == "cuda" else None)
    return torch_device


def close(finished: bool = True) -> None:
    """Leave the process group.

    `finished`: every rank got here normally. The ranks then meet at a barrier first, so none
    tears down its gloo connections while a peer is still working or writing (rank 0 exports
    after the others are done; a rank closing early aborted now and then with "terminate called
    without an active exception"). After an error the peers may never arrive, so no barrier.
    """
    if not is_distributed():
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()


@contextlib.contextmanager
def closing() -> Iterator[None]:
    """Leave the process group when the block ends: `close()` after it ran through,
    `close(finished=False)` when it raised."""
    try:
        yield
    except BaseException:
        close(finished=False)
        raise
    close()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _device_of_group() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_mean(metrics: dict[str, float]) -> dict[str, float]:
    """Average a dict of numbers over ranks (same keys on every rank, in any order)."""
    if not is_distributed() or not metrics:
        return dict(metrics)
    keys = sorted(metrics)
    values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64,
                          device=_device_of_group())
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    values /= world_size()
    return dict(zip(keys, values.tolist()))


def all_reduce_sum(value: float) -> float:
    """Sum one number over ranks (e.g. counts of skipped files)."""
    if not is_distributed():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=_device_of_group())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.item()


def all_reduce_sum_(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks in place, on its device (nothing read back to the host)."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def average_tensors(tensors: Iterable[torch.Tensor]) -> None:
    """In-place average of floating-point tensors over ranks (integer tensors are left alone)."""
    if not is_distributed():
        return
    tensors = [t for t in tensors if t.is_floating_point()]
    if not tensors:
        return
    # One flat buffer: one collective instead of one per tensor.
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world_size()
    offset = 0
    for t in tensors:
        n = t.numel()
        t.data.copy_(flat[offset:offset + n].view_as(t))
        offset += n


def sync_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Average the gradients of `params` over ranks; call between backward and optimizer step.

    Parameters without a gradient get a zero one first, so every rank reduces the same list.
    """
    if not is_distributed():
        return
    grads = []
    for p in params:
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    average_tensors(grads)


def broadcast_(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite a tensor with rank `src`'s copy, in place on its device."""
    if is_distributed():
        dist.broadcast(t, src=src)
    return t


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy parameters and buffers of rank `src` to every rank (start from identical weights)."""
    for t in list(module.parameters()) + list(module.buffers()):
        broadcast_(t.data, src=src)

"""How the LM is spread over processes: one replica (1 process), DDP, or FSDP.

    replica  1 process: the module as is
    ddp      every process holds the whole model; gradients are averaged during backward
             (torch DistributedDataParallel; gloo on CPU, NCCL on GPUs)
    fsdp     weights, gradients and optimizer state sharded over processes (torch's
             `fully_shard`, one unit per transformer block plus the rest), gathered per block
             during forward and backward: for models that do not fit one GPU

The helpers below hide the difference where the trainer needs whole tensors: the full state
dict (checkpoints, export), the optimizer state, and skipping the gradient sync on the
micro-batches of gradient accumulation. Under FSDP every process must call them (they gather);
under DDP only the tensors of the local replica are read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

PARALLEL_KINDS = ("ddp", "fsdp")


def wrap(module: nn.Module, blocks: nn.ModuleList, kind: str, world: int,
         device: torch.device, bf16: bool = False) -> nn.Module:
    """Wrap `module` for `world` processes; `blocks` are the FSDP units (transformer layers)."""
    if kind not in PARALLEL_KINDS:
        raise ValueError(f"parallel must be one of {PARALLEL_KINDS}, got {kind!r}")
    if world == 1:
        return module
    if kind == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None)
    from torch.distributed.fsdp import (
        MixedPrecisionPolicy,
        fully_shard,
        register_fsdp_forward_method,
    )

    # bf16 compute with fp32 master weights and fp32 gradient reduction
    policy = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
              if bf16 else MixedPrecisionPolicy())
    for block in blocks:
        cross = getattr(block, "cross_attn", None)
        if cross is not None:
            # The LM computes every block's text keys/values (cross_attn.kv) before running the
            # blocks, outside the block's forward: the cross-attention is its own unit, and
            # the methods the LM calls on it gather its weights like a forward does.
            fully_shard(cross, mp_policy=policy)
            for method in ("kv", "q", "attend"):
                register_fsdp_forward_method(cross, method)
        fully_shard(block, mp_policy=policy)
    fully_shard(module, mp_policy=policy)
    return module


def is_sharded(module: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)


def unwrap(module: nn.Module) -> nn.Module:
    """The wrapped module (DDP keeps it in `.module`; FSDP shards it in place)."""
    return getattr(module, "module", module) if not is_sharded(module) else module


@contextlib.contextmanager
def gradient_sync(module: nn.Module, enabled: bool) -> Iterator[None]:
    """Skip the gradient reduction inside the block when not `enabled` (accumulation)."""
    if enabled or not hasattr(module, "no_sync") and not is_sharded(module):
        yield
    elif is_sharded(module):
        module.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            module.set_requires_gradient_sync(True)
    else:
        with module.no_sync():
            yield


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A whole tensor on the CPU (a sharded DTensor is gathered: collective under FSDP)."""
    if hasattr(t, "full_tensor"):
        t = t.full_tensor()
    return t.detach().cpu()


def full_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The unwrapped module's complete state dict on the CPU (keys without wrapper prefixes)."""
    return {k: full_tensor(v).clone() for k, v in unwrap(module).state_dict().items()}


def load_full_state_dict(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load whole tensors into a plain, DDP or FSDP module, strictly (under FSDP each process
    keeps its shard of each tensor)."""
    target = unwrap(module)
    current = target.state_dict()
    target.load_state_dict({k: shard_like(v, current[k]) if k in current else v
                            for k, v in state.items()}, strict=True)


def optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer state to save: plain for one process / DDP, gathered whole for FSDP."""
    if not is_sharded(module):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(module, optimizer, options=StateDictOptions(
        full_state_dict=True, cpu_offload=True))


def load_optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer,
                         state: dict) -> None:
    if not is_sharded(module):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(module, optimizer, optim_state_dict=state,
                             options=StateDictOptions(full_state_dict=True))


def shard_like(full: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`full` laid out like `like` (this process's shard of a DTensor, or the whole tensor)."""
    if hasattr(like, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(full.to(like.device, like.dtype), like.device_mesh,
                                 like.placements)
    return full.to(like.device, like.dtype)

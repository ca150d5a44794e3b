"""Which device to run on: one spelling and one default for every command and the API.

    resolve_device("auto") -> torch.device("cuda") when CUDA is available, else cpu
    resolve_device("cuda:1"), resolve_device("mps"), resolve_device("cpu")

A name this machine cannot use is an AudiogenError that says why and what to use instead,
raised before any model is loaded.
"""

from __future__ import annotations

import re

import torch

from audiogen.errors import AudiogenError

DEFAULT_DEVICE = "auto"
DEVICE_HELP = ("where to run: auto (CUDA when available, else the CPU), cpu, cuda, cuda:N or mps "
               f"(default: {DEFAULT_DEVICE})")


def resolve_device(name: str | torch.device | None = DEFAULT_DEVICE) -> torch.device:
    """The torch.device `name` stands for on this machine (None: the default, "auto")."""
    if isinstance(name, torch.device):
        name = str(name)
    text = (name or DEFAULT_DEVICE).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", text)
    if match is None:
        raise AudiogenError(f"device {name!r}: unknown device; use auto, cpu, cuda, cuda:N or "
                            "mps.")
    kind, index = match.group(1), None if match.group(2) is None else int(match.group(2))
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise AudiogenError(f"device {name!r}: this machine (or this torch build) has no "
                                "CUDA device; use cpu or auto.")
        count = torch.cuda.device_count()
        if index is not None and index >= count:
            raise AudiogenError(f"device {name!r}: this machine has {count} CUDA device(s), "
                                f"cuda:0 to cuda:{count - 1}.")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise AudiogenError(f"device {name!r}: MPS (Apple GPU) is not available here; use cpu "
                            "or auto.")
    return torch.device(kind if index is None else f"{kind}:{index}")

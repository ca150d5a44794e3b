"""Reading the reference's (audiocraft's) checkpoint files, shared by the codec and LM importers.

A released file (`compression_state_dict.bin`, `state_dict.bin`) is a torch pickle of
{"best_state": {name: tensor}, "xp.cfg": YAML string, "version": str, "exported": bool}. It is
read with `torch.load(weights_only=True)`, whose unpickler accepts only tensors and plain
containers/strings: a file that holds anything else is refused instead of executing it. The
YAML is parsed with `yaml.safe_load`.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
import yaml

from audiogen.errors import AudiogenError
from audiogen.model_dir import one_line

_INTERPOLATION = re.compile(r"^\$\{([A-Za-z0-9_.]+)\}$")


def read_checkpoint(path: str | os.PathLike
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    """Read (state dict, parsed xp.cfg, exporter's version) from a released checkpoint, tensors
    and strings only."""
    path = Path(path)
    if not path.is_file():
        raise AudiogenError(f"{path}: no such file (expected an audiocraft "
                            "compression_state_dict.bin)")
    try:
        pkg = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise AudiogenError(
            f"{path}: not a tensors-only audiocraft checkpoint (refusing to unpickle "
            f"anything else): {str(e).splitlines()[0]}") from e
    except Exception as e:  # torch raises several types for an empty, cut or foreign file
        raise AudiogenError(
            f"{path}: not an audiocraft checkpoint, or a damaged one (torch cannot read it "
            f"as a checkpoint file); download it again.") from e
    if not isinstance(pkg, dict):
        raise AudiogenError(f"{path}: expected a dict, found {type(pkg).__name__}")
    if "pretrained" in pkg:
        raise AudiogenError(f"{path}: refers to an external pretrained codec "
                            f"({pkg['pretrained']!r}) instead of holding weights")
    missing = [k for k in ("best_state", "xp.cfg") if k not in pkg]
    if missing:
        raise AudiogenError(f"{path}: missing {missing}; found keys {sorted(pkg)}")
    try:
        cfg = yaml.safe_load(pkg["xp.cfg"]) if isinstance(pkg["xp.cfg"], str) else pkg["xp.cfg"]
    except yaml.YAMLError as e:
        raise AudiogenError(f"{path}: xp.cfg is not valid YAML ({one_line(e)})") from e
    if not isinstance(cfg, dict):
        raise AudiogenError(f"{path}: xp.cfg is not a YAML mapping")
    return dict(pkg["best_state"]), cfg, str(pkg.get("version", "unknown"))


def setting(cfg: dict[str, Any], dotted: str, default: Any = ...) -> Any:
    """The xp.cfg value at a dotted path (`"rvq.n_q"`), interpolations resolved; `default` when
    the setting is missing, AudiogenError when it is missing and no default is given."""
    try:
        return _lookup(cfg, dotted)
    except AudiogenError:
        if default is ...:
            raise
        return default


def _lookup(root: dict[str, Any], dotted: str, seen: tuple[str, ...] = ()) -> Any:
    """Value at a dotted path, resolving whole-value `${a.b}` interpolations (OmegaConf's
    `to_yaml` keeps them unresolved)."""
    if dotted in seen:
        raise AudiogenError(f"xp.cfg: circular interpolation at {dotted}")
    node: Any = root
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise AudiogenError(f"xp.cfg: missing setting {dotted}")
        node = node[part]
    if isinstance(node, str) and (m := _INTERPOLATION.match(node)):
        return _lookup(root, m.group(1), (*seen, dotted))
    return node

"""The PaSST network (Koutini et al., Interspeech 2022) in eval mode, and its checkpoint loader.

    mel [B, 128, T]
      -> Conv2d 16x16, stride 10 x 10 (overlapping patches)        [B, D, F=12, T'=(T-16)//10+1]
      -> + time position embedding (its first T' columns) + frequency position embedding
      -> flatten frequency-major                                     [B, F*T', D]
      -> prepend CLS and distillation tokens (each + its own position embedding)
      -> depth x pre-norm ViT blocks (LayerNorm eps 1e-6, MHA, GELU MLP) -> LayerNorm
      -> features = (CLS + DIST) / 2                                 [B, D]   (the embedding)
      -> head: LayerNorm (eps 1e-5) -> Linear                        [B, L]   (logits)

Patchout (dropping patches) is a training regulariser and never applies in eval mode. The
checkpoint's `head_dist` layer is loaded (the layout is strict) but unused, as in the
package's forward. Parameter names follow the released checkpoints (e.g.
passt-s-f128-p16-s10-ap.476-swa.pt), so those load without renaming; sizes (width, depth,
MLP width, classes, position grid) are read from the tensors, the head count is not stored
and defaults to width / 64 (12 for PaSST-S).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.errors import AudiogenError


@dataclass(frozen=True)
class PasstConfig:
    embed_dim: int = 768  # token width D
    depth: int = 12  # transformer blocks
    num_heads: int = 12  # attention heads (not stored in checkpoints)
    mlp_hidden: int = 3072  # MLP width (4 D)
    num_classes: int = 527  # AudioSet labels
    patch: int = 16  # square patch size on the mel x frames plane
    stride: int = 10  # patch stride on both axes (10: overlapping patches)
    freq_patches: int = 12  # rows of patches: (128 - 16) // 10 + 1
    time_patches: int = 99  # columns of time position embedding: 10 s of input at most


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection `[B, N, D] -> [B, N, D]`."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        # qkv's output rows are laid out [3, heads, head_dim]
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_dim)) v
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU, as nn.GELU()


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int, stride: int):
        super().__init__()
        self.proj = nn.Conv2d(1, dim, kernel_size=patch, stride=stride)


class PasstNet(nn.Module):
    """Normalised log-mel `[B, n_mels, T]` -> (logits `[B, L]`, features `[B, D]`)."""

    def __init__(self, config: PasstConfig):
        super().__init__()
        self.config = c = config
        if c.embed_dim % c.num_heads:
            raise ValueError(f"width {c.embed_dim} is not divisible by {c.num_heads} heads")
        self.patch_embed = PatchEmbed(c.embed_dim, c.patch, c.stride)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.new_pos_embed = nn.Parameter(torch.zeros(1, 2, c.embed_dim))  # CLS, DIST
        self.freq_new_pos_embed = nn.Parameter(torch.zeros(1, c.embed_dim, c.freq_patches, 1))
        self.time_new_pos_embed = nn.Parameter(torch.zeros(1, c.embed_dim, 1, c.time_patches))
        self.blocks = nn.Sequential(*[Block(c.embed_dim, c.num_heads, c.mlp_hidden)
                                      for _ in range(c.depth)])
        self.norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
        self.head = nn.Sequential(nn.LayerNorm(c.embed_dim), nn.Linear(c.embed_dim, c.num_classes))
        self.head_dist = nn.Linear(c.embed_dim, c.num_classes)  # in the checkpoint; unused
        self.eval()

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        if mel.dim() != 3:
            raise ValueError(f"expected log-mel [B, n_mels, T], got {tuple(mel.shape)}")
        x = self.patch_embed.proj(mel.unsqueeze(1))  # [B, D, F, T']
        b, _, n_freq, n_time = x.shape
        if n_freq != c.freq_patches:
            raise ValueError(f"{mel.shape[1]} mel bands give {n_freq} patch rows; the "
                             f"frequency position embedding has {c.freq_patches}")
        if n_time > c.time_patches:
            raise ValueError(f"{mel.shape[2]} frames give {n_time} patch columns; the time "
                             f"position embedding covers {c.time_patches} (split longer input)")
        x = x + self.time_new_pos_embed[..., :n_time] + self.freq_new_pos_embed
        x = x.flatten(2).transpose(1, 2)  # [B, F*T', D], index f * T' + t
        tokens = torch.cat([self.cls_token, self.dist_token], dim=1) + self.new_pos_embed
        x = torch.cat([tokens.expand(b, -1, -1), x], dim=1)
        x = self.norm(self.blocks(x))
        features = (x[:, 0] + x[:, 1]) / 2
        return self.head(features), features


# ----------------------------------------------------------------------------- checkpoints
_BLOCK_KEYS = ("norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
               "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
               "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias")
_TOP_KEYS = ("patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "dist_token",
             "new_pos_embed", "freq_new_pos_embed", "time_new_pos_embed", "norm.weight",
             "norm.bias", "head.0.weight", "head.0.bias", "head.1.weight", "head.1.bias",
             "head_dist.weight", "head_dist.bias")


def unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    """The network's tensors from what a checkpoint file holds.

    Accepts a plain state dict (the released files), one under "model" or "state_dict", and
    the keys of a whole hear21passt wrapper ("net." prefix, mel buffers) or of DataParallel
    ("module." prefix).
    """
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise AudiogenError("not a PaSST checkpoint: expected a dict of tensors (a state dict)")
    state = dict(obj)
    for prefix in ("module.", "net."):
        if any(k.startswith(prefix + "patch_embed.") for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def infer_config(state: dict[str, torch.Tensor], num_heads: int | None = None) -> PasstConfig:
    """Read the architecture off the tensors; an `AudiogenError` lists what does not fit."""
    top_missing = [k for k in _TOP_KEYS if k not in state]
    if top_missing:
        raise AudiogenError("not a PaSST checkpoint (passt_s_* layout): missing "
                            + ", ".join(top_missing[:8]) + (" ..." if len(top_missing) > 8 else ""))
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
    depth = len(blocks)
    if depth == 0 or blocks != set(range(depth)):
        raise AudiogenError(f"not a PaSST checkpoint: transformer blocks {sorted(blocks)}")
    expected = set(_TOP_KEYS) | {f"blocks.{i}.{k}" for i in range(depth) for k in _BLOCK_KEYS}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise AudiogenError("not a PaSST checkpoint (passt_s_* layout): "
                            f"missing {missing[:6]}, unexpected {unexpected[:6]}")
    dim = state["cls_token"].shape[-1]
    proj = state["patch_embed.proj.weight"]
    if proj.dim() != 4 or proj.shape[0] != dim or proj.shape[2] != proj.shape[3]:
        raise AudiogenError(f"not a PaSST checkpoint: patch projection {tuple(proj.shape)}")
    return PasstConfig(
        embed_dim=dim, depth=depth, num_heads=num_heads or max(1, dim // 64),
        mlp_hidden=state["blocks.0.mlp.fc1.weight"].shape[0],
        num_classes=state["head.1.weight"].shape[0], patch=proj.shape[-1],
        freq_patches=state["freq_new_pos_embed"].shape[2],
        time_patches=state["time_new_pos_embed"].shape[3])


def load_passt(path: str | os.PathLike, num_heads: int | None = None) -> PasstNet:
    """Build a `PasstNet` from a checkpoint file, read with `torch.load(weights_only=True)`."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refusals, truncated files, not a torch file at all
        raise AudiogenError(f"cannot read PaSST checkpoint {path} with torch.load("
                            f"weights_only=True): {type(e).__name__}: {e}") from e
    state = unwrap_state_dict(obj)
    config = infer_config(state, num_heads)
    proj = state["patch_embed.proj.weight"]
    if proj.shape[1] != 1:  # a 3-channel (image) stem: summed over channels, as the package does
        state["patch_embed.proj.weight"] = proj.float().sum(dim=1, keepdim=True)
    net = PasstNet(config)
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise AudiogenError(f"PaSST checkpoint {path} does not fit the architecture read off "
                            f"its tensors: {e}") from e
    return net.eval()

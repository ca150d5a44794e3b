"""Audio prompts for continuation: validated, batched, mono, at the codec's rate."""

from __future__ import annotations

import torch

from audiogen.audio.io import convert_channels, resample
from audiogen.errors import AudiogenError


def prompt_waveform(audio: torch.Tensor, sample_rate: int, target_rate: int,
                    batch: int | None = None) -> torch.Tensor:
    """Prompt audio [C, T] or [B, C, T] at `sample_rate` -> wav [B', 1, T'] at `target_rate`.

    One clip is repeated to `batch` rows; otherwise the clip count must equal `batch` (None
    keeps the clips as they are). Any channel count is mixed to mono.
    """
    if audio.dim() == 2:
        audio = audio[None]
    if audio.dim() != 3 or audio.shape[-1] == 0:
        raise AudiogenError(f"expected prompt audio [C, T] or [B, C, T], got "
                            f"{tuple(audio.shape)}")
    if not torch.isfinite(audio).all():
        raise AudiogenError("the prompt audio holds NaN or infinite samples.")
    if batch is not None:
        if audio.shape[0] == 1 and batch > 1:
            audio = audio.expand(batch, -1, -1)
        if audio.shape[0] != batch:
            raise AudiogenError(f"{batch} texts for {audio.shape[0]} prompt clips.")
    return resample(convert_channels(audio.float(), 1), int(sample_rate), target_rate)

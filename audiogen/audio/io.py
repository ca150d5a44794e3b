"""Audio I/O: read, resample, channel conversion, normalisation, atomic writes.

Waveforms are float32 tensors `[C, T]` (channels, samples) for a single clip and `[B, C, T]`
for batches. Reading goes through soundfile (wav, flac, ogg, mp3 with libsndfile >= 1.1);
resampling through soxr (high quality, band-limited).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from audiogen.errors import AudiogenError, AudioReadError
from audiogen.fileio import atomic_path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


def audio_info(path: str | os.PathLike) -> tuple[float, int, int]:
    """Return (duration in seconds, sample rate, channels) without decoding the whole file."""
    path = Path(path)
    if not path.is_file():
        raise AudioReadError(f"{path}: no such audio file.")
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises several types for corrupt headers
        raise AudioReadError(f"{path}: cannot read audio header ({e}). "
                             f"Supported formats: {', '.join(AUDIO_EXTENSIONS)}.") from e
    return info.frames / info.samplerate, info.samplerate, info.channels


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    channels: int | None = None,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[torch.Tensor, int]:
    """Read an audio file as a float32 tensor `[C, T]` in [-1, 1].

    Args:
        path: wav, flac, ogg or mp3 file.
        sample_rate: resample to this rate (None keeps the file's rate).
        channels: convert to this many channels (1 = mono by averaging; None keeps them).
        offset: start reading at this many seconds (seeks; does not decode the skipped part).
        duration: read at most this many seconds (None reads to the end).

    Returns:
        (wav [C, T], sample_rate)

    Raises:
        AudioReadError: missing, unreadable, empty, or non-finite audio, naming the file.
    """
    path = Path(path)
    _, sr, _ = audio_info(path)
    start = round(offset * sr)
    frames = -1 if duration is None else round(duration * sr)
    try:
        data, sr = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioReadError(f"{path}: cannot decode audio ({e}).") from e
    if data.shape[0] == 0:
        raise AudioReadError(f"{path}: the file holds no samples (empty or zero-length audio)"
                             + (f" from offset {offset:.2f}s." if offset else "."))
    if not np.isfinite(data).all():
        raise AudioReadError(f"{path}: the audio holds NaN or infinite samples; "
                             "re-export it from its source.")
    wav = torch.from_numpy(np.ascontiguousarray(data.T))
    if channels is not None:
        wav = convert_channels(wav, channels)
    if sample_rate is not None and sample_rate != sr:
        wav = resample(wav, sr, sample_rate)
        sr = sample_rate
    return wav, sr


def save_audio(path: str | os.PathLike, wav: torch.Tensor, sample_rate: int,
               clip: bool = True) -> Path:
    """Write `wav [C, T]` (or `[T]`) to `path` atomically; the format follows the suffix.

    Samples are clipped to [-1, 1] (`clip`), since integer formats would wrap around.
    """
    path = Path(path)
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise AudiogenError(f"{path}: unsupported output format {path.suffix!r}; "
                            f"use one of {', '.join(AUDIO_EXTENSIONS)}.")
    wav = wav.detach().to(torch.float32).cpu()
    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2:
        raise ValueError(f"expected a waveform [C, T], got shape {tuple(wav.shape)}")
    if not torch.isfinite(wav).all():
        raise AudiogenError(f"refusing to write {path}: the waveform holds NaN or inf.")
    if clip:
        wav = wav.clamp(-1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav.numpy().T, sample_rate, format=_sf_format(path))
    return path


def _sf_format(path: Path) -> str:
    return {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}[path.suffix.lower()]


def resample(wav: torch.Tensor, from_rate: int, to_rate: int) -> torch.Tensor:
    """Resample `wav [..., T]` with soxr (HQ). Leading dimensions are kept."""
    if from_rate == to_rate:
        return wav
    lead = wav.shape[:-1]
    flat = wav.reshape(-1, wav.shape[-1]).detach().cpu().to(torch.float32).numpy()
    out = soxr.resample(flat.T, from_rate, to_rate, quality="HQ")  # soxr wants [T, C]
    out = torch.from_numpy(np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, flat.shape[0]).T))
    return out.reshape(*lead, out.shape[-1]).to(wav.device)


def convert_channels(wav: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert `wav [..., C, T]` to `channels` channels (mono by averaging, up-mix by copying)."""
    have = wav.shape[-2]
    if have == channels:
        return wav
    if channels == 1:
        return wav.mean(dim=-2, keepdim=True)
    if have == 1:
        return wav.expand(*wav.shape[:-2], channels, wav.shape[-1]).contiguous()
    raise AudiogenError(f"cannot convert {have} channels to {channels}; convert to mono first.")


def peak_normalize(wav: torch.Tensor, peak: float = 1.0, eps: float = 1e-8) -> torch.Tensor:
    """Scale `wav [..., T]` so that its largest absolute sample is `peak` (silence unchanged)."""
    return wav * (peak / wav.abs().amax(dim=-1, keepdim=True).clamp_min(eps))


def rms_db(wav: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """RMS level in dBFS over the last two dimensions of `wav [..., C, T]`."""
    return 10 * torch.log10(wav.pow(2).mean(dim=(-2, -1)).clamp_min(eps))


def loudness_normalize(wav: torch.Tensor, target_db: float = -25.0, eps: float = 1e-10,
                       avoid_clipping: bool = True) -> torch.Tensor:
    """Scale `wav [..., C, T]` to an RMS of `target_db` dBFS.

    With `avoid_clipping`, the gain is lowered where it would push a peak above 1.0.
    """
    gain = 10 ** ((target_db - rms_db(wav, eps)) / 20)
    gain = gain[..., None, None]
    out = wav * gain
    if avoid_clipping:
        peak = out.abs().amax(dim=(-2, -1), keepdim=True)
        out = out / peak.clamp_min(1.0)
    return out


def seconds_to_samples(seconds: float, sample_rate: int) -> int:
    return math.ceil(seconds * sample_rate)

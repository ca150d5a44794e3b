"""Spectrogram pictures for reports, written as PNG with the standard library only.

A PNG is a signature and three chunks (header, zlib-compressed rows, end), each with a CRC:
small enough to write by hand, which keeps plotting libraries out of the install.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import torch

from audiogen.eval.embedders.aisfx import mel_filterbank
from audiogen.fileio import atomic_path

# anchor colours of a dark-to-bright perceptual ramp (black, purple, red, orange, pale yellow)
_ANCHORS = np.array([[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97], [252, 253, 191]],
                    dtype=np.float64)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] `[H, W]` to RGB bytes `[H, W, 3]` by piecewise-linear ramp."""
    v = np.clip(values, 0.0, 1.0) * (len(_ANCHORS) - 1)
    lo = np.floor(v).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (v - lo)[..., None]
    return (_ANCHORS[lo] * (1 - frac) + _ANCHORS[lo + 1] * frac).round().astype(np.uint8)


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write `rgb [H, W, 3]` uint8 as an 8-bit RGB PNG, atomically."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, RGB
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def log_mel_db(wav: torch.Tensor, sample_rate: int, n_mels: int = 80,
               n_fft: int = 1024) -> np.ndarray:
    """Log-mel power in dB `[n_mels, frames]` (low frequencies first) of mono `wav [T]`."""
    hop = n_fft // 4
    x = wav.to(torch.float64).reshape(-1)
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                      return_complex=True).abs().pow(2)
    mel = mel_filterbank(n_mels, n_fft, sample_rate) @ spec
    return (10 * torch.log10(mel.clamp_min(1e-10))).numpy()


def spectrogram_image(wavs: list[torch.Tensor], sample_rate: int, path: str | os.PathLike,
                      top_db: float = 80.0, gap: int = 4) -> None:
    """Stack the spectrograms of several clips (top to bottom) in one PNG.

    All share one colour scale: the loudest bin of all maps to white, `top_db` below to black,
    so a quieter clip looks darker. Shorter clips are padded with grey to the longest.
    """
    specs = [log_mel_db(w, sample_rate) for w in wavs]
    peak = max(float(s.max()) for s in specs)
    width = max(s.shape[1] for s in specs)
    rows = []
    for k, s in enumerate(specs):
        rgb = np.full((s.shape[0], width, 3), 128, dtype=np.uint8)  # grey: past the clip's end
        rgb[:, : s.shape[1]] = colormap((s[::-1] - (peak - top_db)) / top_db)  # high freqs on top
        rows.append(rgb)
        if k + 1 < len(specs):
            rows.append(np.full((gap, width, 3), 255, dtype=np.uint8))
    pic = np.concatenate(rows, axis=0)
    scale = int(np.clip(np.ceil(400 / width), 1, 3))  # enlarge short clips' pictures
    pic = pic.repeat(2, axis=0).repeat(scale, axis=1)  # 2 rows per mel band
    write_png(path, pic)

"""16-bit PCM WAV written as the audio arrives: growing files, pipes, and in-memory chunks.

A WAV header states the data size up front. A file being streamed gets its header rewritten
after every chunk, so it is a complete, playable file at any moment; a pipe (not seekable)
gets the "unknown length" sizes 0xFFFFFFFF that players and ffmpeg read to the end of input.

    RIFF <size> WAVE | fmt  <16> PCM, channels, rate, byte rate, align, 16 bits | data <size> ...
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import numpy as np
import torch

HEADER_BYTES = 44
UNKNOWN = 0xFFFFFFFF


def _header(sample_rate: int, channels: int, data_bytes: int | None) -> bytes:
    riff = UNKNOWN if data_bytes is None else 36 + data_bytes
    data = UNKNOWN if data_bytes is None else data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate,
                                    sample_rate * channels * 2, channels * 2, 16)
            + b"data" + struct.pack("<I", data))


def pcm16(wav: torch.Tensor) -> bytes:
    """`wav [C, T]` float in [-1, 1] (clipped) -> interleaved little-endian int16 bytes."""
    if wav.dim() != 2:
        raise ValueError(f"expected a waveform [C, T], got {tuple(wav.shape)}")
    x = wav.detach().float().cpu().clamp(-1.0, 1.0).numpy().T  # [T, C]
    return np.round(x * 32767.0).astype("<i2").tobytes()


def wav_bytes(wav: torch.Tensor, sample_rate: int) -> bytes:
    """A complete WAV file of `wav [C, T]` in memory."""
    data = pcm16(wav)
    return _header(sample_rate, wav.shape[0], len(data)) + data


class WavStreamWriter:
    """Append audio chunks `[C, T]` to a WAV on `stream` (a file opened "wb", or a pipe).

    On a seekable stream the header is rewritten after every chunk (and the stream flushed),
    so readers can open the file while it grows.
    """

    def __init__(self, stream: BinaryIO, sample_rate: int, channels: int = 1):
        self.stream, self.sample_rate, self.channels = stream, sample_rate, channels
        try:
            self.seekable = stream.seekable()
        except (AttributeError, OSError):
            self.seekable = False
        self.data_bytes = 0
        stream.write(_header(sample_rate, channels, 0 if self.seekable else None))
        stream.flush()

    @property
    def num_samples(self) -> int:
        return self.data_bytes // (2 * self.channels)

    def write(self, wav: torch.Tensor) -> None:
        if wav.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channel(s), got {tuple(wav.shape)}")
        data = pcm16(wav)
        self.stream.write(data)
        self.data_bytes += len(data)
        if self.seekable:
            self.stream.seek(0)
            self.stream.write(_header(self.sample_rate, self.channels, self.data_bytes))
            self.stream.seek(0, 2)
        self.stream.flush()

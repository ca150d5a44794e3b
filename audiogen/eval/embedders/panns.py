"""PANNs CNN14 (Kong et al., 2020): a 2048-dim AudioSet embedding, and 527 label probabilities.

The network and its front end are re-implemented here; the weights are the user's copy of a
released checkpoint (nothing is downloaded), read with torch's weights-only loader:

    Cnn14_mAP=0.431.pth       32 kHz (window 1024, hop 320, 64 mels 50..14000 Hz)
    Cnn14_16k_mAP=0.438.pth   16 kHz (window 512, hop 160, 64 mels 50..8000 Hz)

Each is a dict whose "model" entry is the state dict of `panns_inference.models.Cnn14`. The
variant is read from the weights: the mel filterbank stored in them (`logmel_extractor.melW
[n_fft / 2 + 1, 64]`) gives the FFT size, hence the rate (n_fft x 31.25 Hz) and the hop
(10 ms). That stored filterbank is used as it is, as the reference does. Front end:

    mono -> reflect-pad n_fft / 2 both sides -> frames of n_fft, hop 10 ms, periodic Hann
    -> |STFT|^2 -> @ melW -> 10 log10(max(x, 1e-10)) -> batch norm over the 64 mel bands

then six conv blocks (two 3x3 conv + batch norm + ReLU, 2x2 average pooling, none after the
sixth), mean over mel, max + mean over time, `fc1` + ReLU = the embedding, and
`sigmoid(fc_audioset)` = the clipwise probabilities. As in `panns_inference.AudioTagging`,
one clip gives one embedding: `embed` returns `[1, 2048]`. A clip shorter than 32 frames
(0.31 s), which the reference cannot pool, is zero padded to that length.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.errors import AudiogenError
from audiogen.eval.embedders.conv_block import ConvBlock
from audiogen.eval.weights import find_weights_file, read_torch_weights

CHECKPOINTS = ["Cnn14_mAP=0.431.pth", "Cnn14_16k_mAP=0.438.pth"]  # looked for in a directory
RATES = {1024: 32000, 512: 16000, 256: 8000}  # FFT size -> sample rate of the released models
N_BLOCKS = 6
MIN_FRAMES = 32  # five 2x2 poolings need 32 frames
AMIN = 1e-10  # floor of the power before the log
HINT = ("Put a PANNs CNN14 checkpoint (Cnn14_mAP=0.431.pth for 32 kHz or "
        "Cnn14_16k_mAP=0.438.pth for 16 kHz, from zenodo.org/record/3987831) in a directory "
        "and pass it, or the file itself, with --panns PATH; nothing is downloaded here.")

# a checkpoint whose training state holds objects the safe loader refuses: keep only "model"
UNREADABLE_HINT = (
    "If you trust the file, keep only its weights once (this unpickles it fully): python -c "
    "\"import torch; c = torch.load('IN.pth', weights_only=False); "
    "torch.save({'model': c['model']}, 'OUT.pth')\" and pass OUT.pth.")


class Cnn14(nn.Module):
    """CNN14 with its log-mel front end; widths default to the released network's.

    `from_state_dict` reads the widths, the class count and the front end from the weights,
    so a reduced-width checkpoint in the same layout (tests) loads too.
    """

    def __init__(self, mel_weights: torch.Tensor,
                 channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048),
                 n_classes: int = 527):
        super().__init__()
        n_fft = 2 * (mel_weights.shape[0] - 1)
        if n_fft not in RATES:
            raise AudiogenError(f"PANNs mel filterbank has {mel_weights.shape[0]} rows: FFT size "
                                f"{n_fft} is none of the released models' ({sorted(RATES)}).")
        self.n_fft = n_fft
        self.sample_rate = RATES[n_fft]
        self.hop = self.sample_rate // 100  # 10 ms
        self.register_buffer("mel_weights", mel_weights.to(torch.float32))  # [bins, mels]
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        self.mel_norm = nn.BatchNorm2d(mel_weights.shape[1])
        ins = (1,) + tuple(channels[:-1])
        self.blocks = nn.ModuleList(ConvBlock(i, o, 2 if b < N_BLOCKS - 1 else 1, pooling="avg")
                                    for b, (i, o) in enumerate(zip(ins, channels)))
        self.fc = nn.Linear(channels[-1], channels[-1])
        self.head = nn.Linear(channels[-1], n_classes)

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [B, T]` -> log-mel `[B, frames, mels]` in dB."""
        spec = torch.stft(wav, self.n_fft, self.hop, window=self.window, center=True,
                          pad_mode="reflect", return_complex=True).abs().pow(2)  # [B, bins, F]
        mel = spec.transpose(1, 2) @ self.mel_weights
        return 10.0 * torch.log10(mel.clamp_min(AMIN))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`wav [B, T]` at `sample_rate` -> (embedding `[B, D]`, probabilities `[B, classes]`)."""
        shortest = (MIN_FRAMES - 1) * self.hop
        if wav.shape[-1] < shortest:
            wav = F.pad(wav, (0, shortest - wav.shape[-1]))
        x = self.log_mel(wav)[:, None]  # [B, 1, frames, mels]
        x = self.mel_norm(x.transpose(1, 3)).transpose(1, 3)  # normalise each mel band
        for block in self.blocks:
            x = block(x)
        x = x.mean(dim=3)  # [B, C, frames']
        x = x.amax(dim=2) + x.mean(dim=2)
        embedding = F.relu(self.fc(x))
        return embedding, torch.sigmoid(self.head(embedding))

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], source: str = "PANNs weights") -> Cnn14:
        """Build from a `panns_inference.models.Cnn14` state dict (see `map_key`)."""
        keys = {k for k in state if not k.endswith("num_batches_tracked")
                and not k.startswith("spectrogram_extractor.")}  # STFT done by torch.stft
        needed = {"logmel_extractor.melW", "bn0.weight", "fc1.weight", "fc_audioset.weight"}
        needed |= {f"conv_block{b}.conv1.weight" for b in range(1, N_BLOCKS + 1)}
        missing = sorted(needed - keys)
        if missing:
            raise AudiogenError(f"{source} do not have the PANNs CNN14 layout: missing "
                                f"{missing[:4]} (found {sorted(keys)[:4]} ...). {HINT}")
        channels = tuple(int(state[f"conv_block{b}.conv1.weight"].shape[0])
                         for b in range(1, N_BLOCKS + 1))
        model = cls(state["logmel_extractor.melW"], channels,
                    int(state["fc_audioset.weight"].shape[0]))
        mapped = {map_key(k): state[k].to(torch.float32) for k in keys}
        result = model.load_state_dict(mapped, strict=False)
        # strict, except for batch norm's step counters, which inference never reads
        missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
        if missing or result.unexpected_keys:
            raise AudiogenError(f"{source} do not match the CNN14 network: missing {missing[:4]}"
                                f", unexpected {result.unexpected_keys[:4]}. {HINT}")
        return model.eval()


def map_key(key: str) -> str:
    """`panns_inference` key -> this module's key.

    `conv_block{b}.X` -> `blocks.{b-1}.X`; `bn0` -> `mel_norm`; `fc1` -> `fc`;
    `fc_audioset` -> `head`; `logmel_extractor.melW` -> `mel_weights`.
    """
    head, _, tail = key.partition(".")
    if head.startswith("conv_block"):
        return f"blocks.{int(head[len('conv_block'):]) - 1}.{tail}"
    renamed = {"bn0": "mel_norm", "fc1": "fc", "fc_audioset": "head"}
    if head in renamed:
        return f"{renamed[head]}.{tail}"
    if key == "logmel_extractor.melW":
        return "mel_weights"
    raise KeyError(f"unexpected key in the PANNs weights: {key}")


def load_cnn14(path: str | os.PathLike) -> tuple[Cnn14, Path]:
    """CNN14 from a checkpoint file, or from a directory holding one of `CHECKPOINTS`."""
    weights = find_weights_file(path, CHECKPOINTS, "PANNs CNN14", HINT)
    data = read_torch_weights(weights, "PANNs CNN14", UNREADABLE_HINT)
    state = data.get("model", data)  # released files: {"model": state_dict, ...}
    if not isinstance(state, dict):
        raise AudiogenError(f"{weights}: its 'model' entry is not a state dict. {HINT}")
    return Cnn14.from_state_dict(state, str(weights)), weights


class PannsEmbedder:
    """FAD embedder: one 2048-dim CNN14 embedding per clip (`[1, 2048]`)."""

    name = "panns"

    def __init__(self, model: Cnn14, source: str = ""):
        self.model = model.eval()
        self.sample_rate = model.sample_rate
        self.dim = model.fc.out_features
        self.source = source
        self.fingerprint: str | None = None  # identity of the weights file, for caches

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> PannsEmbedder:
        model, weights = load_cnn14(path)
        embedder = cls(model, source=str(weights))
        stat = weights.stat()
        embedder.fingerprint = f"{stat.st_size}-{stat.st_mtime_ns}"
        return embedder

    @torch.no_grad()
    def outputs(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`wav [C, T]` at `sample_rate` -> (embedding `[1, D]`, probabilities `[1, classes]`)."""
        return self.model(wav.mean(dim=0, keepdim=True).to(torch.float32))

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at `sample_rate` -> `[1, 2048]`."""
        return self.outputs(wav)[0]

    def clipwise(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` -> the 527 AudioSet label probabilities `[classes]` (independent
        sigmoids, as released; they do not sum to 1)."""
        return self.outputs(wav)[1][0]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "weights": self.source, "sample_rate": self.sample_rate,
                "dim": self.dim, "frame": "one embedding per clip",
                "front_end": f"n_fft {self.model.n_fft}, hop {self.model.hop}, 64 mels"}

"""VGGish (Hershey et al., ICASSP 2017): the FAD embedder of the AudioGen paper.

The network and its log-mel front end are re-implemented here; the weights are the user's
copy of the torchvggish checkpoint files (nothing is downloaded):

    vggish-10086976.pth             the network (torchvggish's `VGG` state dict)
    vggish_pca_params-970ea276.pth  optional: PCA/whitening parameters (`vggish-pca` only)

Both are read with torch's weights-only loader. The front end follows the reference
(`torchvggish.vggish_input`, after Google's `mel_features.py`):

    16 kHz mono -> frames of 400 samples (25 ms), hop 160 (10 ms), no padding
    -> periodic Hann -> |rfft(512)| (magnitude, not power)
    -> 64 HTK-mel triangles, 125..7500 Hz (triangles in mel, unnormalised, DC bin zeroed)
    -> log(mel + 0.01) -> examples of 96 frames x 64 bands (0.96 s), hop 96, last partial
       example dropped

Each example gives one 128-dim embedding (`embed` returns `[n_examples, 128]`). A clip
shorter than one example (0.975 s) is zero padded to one, where the reference would return
no example at all.

Two outputs, two embedder names:
- `vggish`: the last fully connected layer without its ReLU and without PCA; what FAD tools
  use (Google's frechet_audio_distance, and `frechet_audio_distance` on torchvggish with
  its defaults use_pca=False, use_activation=False).
- `vggish-pca`: torchvggish's default output: ReLU, then the released PCA/whitening and
  8-bit quantization (values 0..255), as in the AudioSet embedding release.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.errors import AudiogenError
from audiogen.eval.weights import find_weights_file, read_torch_weights

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512  # next power of two above the window
N_MELS = 64
F_MIN, F_MAX = 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s per example, no overlap
EMBED_DIM = 128
QUANT_MIN, QUANT_MAX = -2.0, 2.0  # PCA outputs are clipped to this range, then 8-bit
WEIGHTS_FILE = "vggish-10086976.pth"
PCA_FILE = "vggish_pca_params-970ea276.pth"
HINT = (f"Put the torchvggish files ({WEIGHTS_FILE}, and {PCA_FILE} for vggish-pca) in one "
        "directory and pass it with --vggish DIR. They are the release files of "
        "github.com/harritaylor/torchvggish (v0.1); nothing is downloaded here.")

# torchvggish `features` Sequential indices of the six convolutions (ReLUs and pools between)
CONV_INDICES = (0, 3, 6, 8, 11, 13)
POOL_AFTER = (0, 1, 3, 5)  # conv positions followed by 2x2 max pooling
FC_INDICES = (0, 2, 4)  # torchvggish `embeddings` Sequential indices of the linear layers


# --------------------------------------------------------------------------- features
def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """HTK mel scale, natural-log form (1127 ln(1 + f/700))."""
    return 1127.0 * torch.log1p(hz / 700.0)


def mel_matrix() -> torch.Tensor:
    """Filters `[N_FFT // 2 + 1, N_MELS]` (float64) mapping magnitude bins to mel bands."""
    n_bins = N_FFT // 2 + 1
    bin_mel = hz_to_mel(torch.linspace(0.0, SAMPLE_RATE / 2, n_bins, dtype=torch.float64))
    edges = torch.linspace(float(hz_to_mel(torch.tensor(F_MIN, dtype=torch.float64))),
                           float(hz_to_mel(torch.tensor(F_MAX, dtype=torch.float64))),
                           N_MELS + 2, dtype=torch.float64)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]  # [mels] each
    rising = (bin_mel[:, None] - lo) / (mid - lo)
    falling = (hi - bin_mel[:, None]) / (hi - mid)
    weights = torch.minimum(rising, falling).clamp_min(0.0)
    weights[0] = 0.0  # the reference drops the DC bin
    return weights


_MEL: torch.Tensor | None = None


def log_mel(wav: torch.Tensor) -> torch.Tensor:
    """Log-mel spectrogram of a mono 16 kHz clip `wav [T]` (T >= WINDOW) -> `[frames, 64]`."""
    global _MEL
    if _MEL is None:
        _MEL = mel_matrix()
    frames = wav.to(torch.float64).reshape(-1).unfold(0, WINDOW, HOP)  # [frames, WINDOW]
    window = torch.hann_window(WINDOW, periodic=True, dtype=torch.float64)
    magnitude = torch.fft.rfft(frames * window, n=N_FFT).abs()  # [frames, 257]
    return torch.log(magnitude @ _MEL + LOG_OFFSET)


def examples(wav: torch.Tensor) -> torch.Tensor:
    """Mono 16 kHz `wav [T]` -> log-mel examples `[n, 96, 64]` (float32), n >= 1."""
    wav = wav.reshape(-1)
    shortest = WINDOW + (EXAMPLE_FRAMES - 1) * HOP  # samples that make exactly one example
    if wav.numel() < shortest:
        wav = F.pad(wav, (0, shortest - wav.numel()))
    spec = log_mel(wav)
    n = spec.shape[0] // EXAMPLE_FRAMES
    return spec[:n * EXAMPLE_FRAMES].reshape(n, EXAMPLE_FRAMES, N_MELS).to(torch.float32)


# --------------------------------------------------------------------------- network
class VGGishNet(nn.Module):
    """Six 3x3 convolutions (ReLU, four 2x2 max pools) and three fully connected layers.

    Widths are those of the released network by default; `from_state_dict` reads them from
    the weights, so a reduced-width checkpoint in the same layout (tests) loads too.
    """

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256, 256, 512, 512),
                 hidden: int = 4096, dim: int = EMBED_DIM):
        super().__init__()
        ins = (1,) + tuple(channels[:-1])
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1) for i, o in zip(ins, channels))
        # after four poolings a 96 x 64 example is 6 x 4 positions
        flat = channels[-1] * (EXAMPLE_FRAMES // 16) * (N_MELS // 16)
        self.fcs = nn.ModuleList([nn.Linear(flat, hidden), nn.Linear(hidden, hidden),
                                  nn.Linear(hidden, dim)])

    def forward(self, spec: torch.Tensor, final_relu: bool = False) -> torch.Tensor:
        """Examples `[B, 96, 64]` -> embeddings `[B, dim]` (`final_relu`: torchvggish's ReLU)."""
        x = spec[:, None]
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i in POOL_AFTER:
                x = F.max_pool2d(x, 2)
        x = x.permute(0, 2, 3, 1).flatten(1)  # (time, mel, channel) order, as the TF original
        x = F.relu(self.fcs[0](x))
        x = F.relu(self.fcs[1](x))
        x = self.fcs[2](x)
        return F.relu(x) if final_relu else x

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], source: str = "VGGish weights") -> VGGishNet:
        """Build from a torchvggish `VGG` state dict (see `map_key`), widths from its shapes."""
        expected = {f"features.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")}
        expected |= {f"embeddings.{i}.{p}" for i in FC_INDICES for p in ("weight", "bias")}
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected)
        if missing or unexpected or not all(torch.is_tensor(state[k]) for k in expected):
            raise AudiogenError(
                f"{source} do not have the torchvggish layout (features.N / embeddings.N "
                f"tensors): missing {missing[:4]}, unexpected {unexpected[:4]}. {HINT}")
        channels = tuple(int(state[f"features.{i}.weight"].shape[0]) for i in CONV_INDICES)
        hidden = int(state["embeddings.0.weight"].shape[0])
        dim = int(state["embeddings.4.weight"].shape[0])
        net = cls(channels, hidden, dim)
        mapped = {map_key(k): v.to(torch.float32) for k, v in state.items()}
        try:
            net.load_state_dict(mapped, strict=True)
        except RuntimeError as e:
            raise AudiogenError(f"{source} do not match the VGGish network: "
                                f"{str(e).splitlines()[-1][:300]}. {HINT}") from e
        return net.eval()


def map_key(key: str) -> str:
    """torchvggish key -> this module's key.

    `features.{0,3,6,8,11,13}.X` -> `convs.{0..5}.X`; `embeddings.{0,2,4}.X` -> `fcs.{0..2}.X`.
    """
    group, index, param = key.split(".")
    if group == "features":
        return f"convs.{CONV_INDICES.index(int(index))}.{param}"
    if group == "embeddings":
        return f"fcs.{FC_INDICES.index(int(index))}.{param}"
    raise KeyError(f"unexpected key in the VGGish weights: {key}")


class PCAQuantizer:
    """The released postprocessing: PCA/whitening, clip to [-2, 2], 8-bit quantization.

    `pca_eigen_vectors [128, 128]` and `pca_means [128]` come from `vggish_pca_params-*.pth`.
    """

    def __init__(self, eigen_vectors: torch.Tensor, means: torch.Tensor):
        self.matrix = eigen_vectors.to(torch.float32)
        self.means = means.reshape(-1).to(torch.float32)

    @classmethod
    def from_state_dict(cls, params: dict[str, Any], source: str = "VGGish PCA parameters"
                        ) -> PCAQuantizer:
        vectors, means = params.get("pca_eigen_vectors"), params.get("pca_means")
        if not (torch.is_tensor(vectors) and torch.is_tensor(means) and vectors.ndim == 2
                and vectors.shape[0] == vectors.shape[1] == means.numel()):
            raise AudiogenError(f"{source} need 'pca_eigen_vectors' [D, D] and 'pca_means' [D]; "
                                f"found keys {sorted(params)[:5]}. {HINT}")
        return cls(vectors, means)

    def __call__(self, embeddings: torch.Tensor) -> torch.Tensor:
        """`[B, D]` -> quantized `[B, D]` (float values 0..255)."""
        pca = (embeddings - self.means) @ self.matrix.T
        clipped = pca.clamp(QUANT_MIN, QUANT_MAX)
        return torch.round((clipped - QUANT_MIN) * (255.0 / (QUANT_MAX - QUANT_MIN)))


# --------------------------------------------------------------------------- embedders
def _fingerprint(*paths: Path) -> str:
    """Identity of the weights files for embedding caches (size and modification time)."""
    return "+".join(f"{p.stat().st_size}-{p.stat().st_mtime_ns}" for p in paths)


class VGGishEmbedder:
    """FAD embedder: one 128-dim vector per 0.96 s example of a clip (no ReLU, no PCA)."""

    name = "vggish"
    sample_rate = SAMPLE_RATE

    def __init__(self, net: VGGishNet, source: str = "", batch_examples: int = 64):
        self.net = net.eval()
        self.dim = net.fcs[2].out_features
        self.source = source
        self.fingerprint: str | None = None  # identity of the weights file(s), for caches
        self.batch_examples = batch_examples  # examples per forward pass (bounds memory)

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> VGGishEmbedder:
        """`path`: the directory holding `vggish-10086976.pth`, or that file itself."""
        weights = find_weights_file(path, [WEIGHTS_FILE], "VGGish", HINT)
        net = VGGishNet.from_state_dict(read_torch_weights(weights, "VGGish"), str(weights))
        embedder = cls(net, source=str(weights))
        embedder.fingerprint = _fingerprint(weights)
        return embedder

    @torch.no_grad()
    def network_output(self, wav: torch.Tensor, final_relu: bool = False) -> torch.Tensor:
        """`wav [C, T]` at 16 kHz -> network outputs `[n_examples, dim]`."""
        spec = examples(wav.mean(dim=0))
        return torch.cat([self.net(b, final_relu) for b in spec.split(self.batch_examples)])

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at 16 kHz -> `[n_examples, 128]`."""
        return self.network_output(wav)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "weights": self.source, "sample_rate": self.sample_rate,
                "dim": self.dim, "frame": "0.96 s examples, no overlap",
                "output": "last linear layer, no ReLU, no PCA"}


class VGGishPCAEmbedder(VGGishEmbedder):
    """torchvggish's default output: ReLU, PCA/whitening and 8-bit quantization (0..255)."""

    name = "vggish-pca"

    def __init__(self, net: VGGishNet, pca: PCAQuantizer, source: str = "",
                 batch_examples: int = 64):
        super().__init__(net, source, batch_examples)
        self.pca = pca

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> VGGishPCAEmbedder:
        """`path`: the directory holding both torchvggish files, or the network file (the PCA
        file is then looked for beside it)."""
        weights = find_weights_file(path, [WEIGHTS_FILE], "VGGish", HINT)
        pca_file = find_weights_file(weights.parent, [PCA_FILE], "VGGish PCA", HINT)
        net = VGGishNet.from_state_dict(read_torch_weights(weights, "VGGish"), str(weights))
        pca = PCAQuantizer.from_state_dict(read_torch_weights(pca_file, "VGGish PCA"),
                                           str(pca_file))
        if pca.means.numel() != net.fcs[2].out_features:
            raise AudiogenError(f"{pca_file} is for {pca.means.numel()}-dim embeddings, the "
                                f"network in {weights} gives {net.fcs[2].out_features}.")
        embedder = cls(net, pca, source=f"{weights} + {pca_file.name}")
        embedder.fingerprint = _fingerprint(weights, pca_file)
        return embedder

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at 16 kHz -> quantized PCA embeddings `[n_examples, 128]`."""
        return self.pca(self.network_output(wav, final_relu=True))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "output": "ReLU, PCA/whitening, 8-bit (torchvggish)"}

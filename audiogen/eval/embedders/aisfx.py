"""aiSFX: a CNN pretrained on professional sound-effect libraries (Ma & Lerch, ISMIR 2022).

The network and its input features are re-implemented here; the weights come from the file
that ships inside the `aisfx` package (`pip install --no-deps aisfx==0.1.2`; its own pins are
stale). Nothing of that package is imported or executed: its pickled checkpoint is read by
torch's weights-only unpickler, which is allowed two numpy globals (the checkpoint stores
numpy scalars beside the tensors), then converted once to safetensors in a cache directory.

Input features follow the package's Essentia path (the one its paper used):

    44.1 kHz mono -> frames of 2048, hop 1024, first frame centred on sample 0 (zero padded),
    last frame the first whose centre reaches the end -> symmetric Hann -> |rfft|^2
    -> 96 HTK-mel triangles (0..22050 Hz, weighted on the mel axis, each summing to 1)
    -> log10(1e4 * x + 1) -> / 9.4578 (the paper's min-max over its training data)
    -> blocks of 100 frames (2.3 s), hop 50; the last partial block is dropped, a clip
       shorter than one block is zero padded to one block.

Each block gives one 512-dim embedding (`embed` returns `[n_blocks, 512]`); a clip's
embedding is their mean.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.errors import AudiogenError, DamagedFileError, MissingFilesError
from audiogen.eval.embedders.conv_block import ConvBlock
from audiogen.eval.weights import cache_dir
from audiogen.fileio import atomic_path
from audiogen.model_dir import one_line, read_weights

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
SPEC_MAX = 9.457798957824707  # package constant: max of its training spectrograms (min is 0)
BLOCK_FRAMES = 100  # 100 x 1024 / 44100 = 2.32 s per block
BLOCK_HOP = 50  # the package's default embedding hop (0.5 block)
EMBED_DIM = 512
PACKAGE_VERSION = "0.1.2"
# classifier heads stored in the checkpoint: dataset name -> (head index, number of classes)
HEADS = {
    "prosfx": (0, 78), "soundlyTrain": (1, 79), "ucsMixed": (2, 69),
    "soundstormBalanced": (3, 81), "productionelementsBalanced": (4, 10),
    "cartoonexpressBalanced": (5, 27), "hpxdigitalBalanced": (6, 3),
    "series6000Balanced": (7, 23), "series9000Balanced": (8, 8),
}


# --------------------------------------------------------------------------- features
def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """HTK mel scale."""
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular filters `[n_mels, n_fft // 2 + 1]`, float64, each row summing to 1.

    Band edges are equally spaced in HTK mel; a bin's weight rises linearly in mel from the
    lower edge to the centre and falls to the upper edge (Essentia's "warping" weighting).
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    n_bins = n_fft // 2 + 1
    mel_range = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64))
    edge_mel = torch.linspace(float(mel_range[0]), float(mel_range[1]), n_mels + 2,
                              dtype=torch.float64)
    edges = mel_to_hz(edge_mel)
    bin_hz = torch.arange(n_bins, dtype=torch.float64) * (sample_rate / 2) / (n_bins - 1)
    bin_mel = hz_to_mel(bin_hz)[None]  # [1, bins]
    lo, mid, hi = (edges[i:i + n_mels, None] for i in range(3))  # [mels, 1] each
    m_lo, m_mid, m_hi = (edge_mel[i:i + n_mels, None] for i in range(3))
    rising = (bin_hz >= lo) & (bin_hz < mid)
    falling = (bin_hz >= mid) & (bin_hz < hi)
    fb = torch.where(rising, (bin_mel - m_lo) / (m_mid - m_lo), torch.zeros(()))
    fb = torch.where(falling, (m_hi - bin_mel) / (m_hi - m_mid), fb)
    return fb / fb.sum(dim=1, keepdim=True).clamp_min(1e-300)


_FILTERBANK: torch.Tensor | None = None


def log_mel(wav: torch.Tensor) -> torch.Tensor:
    """Normalised log-mel spectrogram of a mono 44.1 kHz clip `wav [T]` -> `[frames, 96]`."""
    global _FILTERBANK
    if _FILTERBANK is None:
        _FILTERBANK = mel_filterbank()
    x = wav.to(torch.float64).reshape(-1)
    n_frames = math.ceil(x.numel() / HOP) + 1  # until a frame's centre reaches the end
    half = N_FFT // 2
    total = (n_frames - 1) * HOP + N_FFT
    x = F.pad(x, (half, total - half - x.numel()))
    frames = x.unfold(0, N_FFT, HOP)  # [frames, N_FFT], a view
    window = torch.hann_window(N_FFT, periodic=False, dtype=torch.float64)
    # chunks of 1024 frames (16 MB each) keep memory flat on long files
    mel = torch.cat([torch.fft.rfft(chunk * window).abs().pow(2) @ _FILTERBANK.T
                     for chunk in frames.split(1024)])  # [frames, mels]
    return (torch.log10(1e4 * mel + 1.0) / SPEC_MAX).to(torch.float32)


def to_blocks(spec: torch.Tensor) -> torch.Tensor:
    """Cut `spec [frames, mels]` into `[n_blocks, 100, mels]` (drop the last partial block)."""
    n = spec.shape[0]
    n_blocks = (n - BLOCK_FRAMES) // BLOCK_HOP + 1 if n >= BLOCK_FRAMES else 1
    need = (n_blocks - 1) * BLOCK_HOP + BLOCK_FRAMES
    if need > n:
        spec = F.pad(spec, (0, 0, 0, need - n))
    return spec.unfold(0, BLOCK_FRAMES, BLOCK_HOP).transpose(1, 2)[:n_blocks].contiguous()


# --------------------------------------------------------------------------- network
class AisfxNet(nn.Module):
    """The embedding CNN: 4 conv blocks (64..512 channels), mean over mel, max over time."""

    def __init__(self, width: int = 64):
        super().__init__()
        chans = [1, width, 2 * width, 4 * width, 8 * width]
        pools = [2, 2, 2, 1]
        self.blocks = nn.ModuleList(ConvBlock(chans[i], chans[i + 1], pools[i]) for i in range(4))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """`spec [B, frames, mels]` -> embeddings `[B, 8 * width]`."""
        x = spec[:, None]
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=3).amax(dim=2)


def head(in_dim: int, n_classes: int) -> nn.Sequential:
    """A classifier head of the checkpoint: 512 -> 256 -> 128 -> classes."""
    return nn.Sequential(nn.Linear(in_dim, in_dim // 2), nn.ReLU(),
                         nn.Linear(in_dim // 2, in_dim // 4), nn.ReLU(),
                         nn.Linear(in_dim // 4, n_classes))


# --------------------------------------------------------------------------- weights
def package_checkpoint() -> Path:
    """Path of `checkpoint.pth` inside the installed `aisfx` package (not imported)."""
    spec = importlib.util.find_spec("aisfx")
    hint = f"Install it with: pip install --no-deps aisfx=={PACKAGE_VERSION}"
    if spec is None or not spec.submodule_search_locations:
        raise AudiogenError(f"the aisfx embedder needs the `aisfx` package (its weights). {hint}")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "models" / "checkpoint.pth"
    if not path.is_file():
        raise MissingFilesError("aisfx", ["models/checkpoint.pth"], str(root), hint)
    return path


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of the package checkpoint, renamed to this module's keys (see `map_key`)."""
    import numpy as np

    # The checkpoint is a pickled (state_dict, {dataset: (np.int64 index, n_classes)}).
    # The weights-only unpickler refuses numpy scalars unless told they are allowed.
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core
    allowed = [(core.multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype]
    allowed += [np.dtypes.Int64DType] if hasattr(np, "dtypes") else []
    try:
        with torch.serialization.safe_globals(allowed):
            state, _ = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a damaged file
        raise DamagedFileError(f"{path}: the aisfx package's checkpoint is damaged "
                               f"({one_line(e)}); reinstall it: pip install --force-reinstall "
                               f"--no-deps aisfx=={PACKAGE_VERSION}") from e
    return {map_key(k): v.contiguous() for k, v in state.items()
            if not k.endswith("num_batches_tracked")}


def map_key(key: str) -> str:
    """Package key -> this module's key.

    `embedding_net.conv_block{i}.X` -> `net.blocks.{i-1}.X`; `fc.{h}.{l}.X` -> `heads.{h}.{l}.X`.
    """
    if key.startswith("embedding_net.conv_block"):
        rest = key[len("embedding_net.conv_block"):]
        idx, tail = rest.split(".", 1)
        return f"net.blocks.{int(idx) - 1}.{tail}"
    if key.startswith("fc."):
        return "heads." + key[len("fc."):]
    raise KeyError(f"unexpected key in the aisfx checkpoint: {key}")


def converted_weights(source: Path | None = None) -> Path:
    """Convert the package checkpoint to safetensors once; return the cached file."""
    from safetensors.torch import save_file

    source = source or package_checkpoint()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = cache_dir() / f"aisfx-{PACKAGE_VERSION}-{digest}.safetensors"
    if not target.is_file():
        tensors = _read_checkpoint(source)
        with atomic_path(target) as tmp:
            save_file(tensors, str(tmp), metadata={"source": "aisfx " + PACKAGE_VERSION,
                                                   "sha256_prefix": digest})
    return target


class AisfxModel(nn.Module):
    """The embedding network plus the checkpoint's nine classifier heads."""

    def __init__(self):
        super().__init__()
        self.net = AisfxNet()
        self.heads = nn.ModuleList(head(EMBED_DIM, n) for _, n in sorted(HEADS.values()))

    @classmethod
    def load(cls, weights: Path | None = None) -> AisfxModel:
        model = cls()
        state = read_weights(weights or converted_weights(),
                             fix="delete it: it is converted again from the aisfx package")
        # strict, except for batch norm's step counters, which inference never reads
        result = model.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
        if missing or result.unexpected_keys:
            raise AudiogenError(f"aisfx weights do not match the network: missing {missing[:3]}, "
                                f"unexpected {result.unexpected_keys[:3]}")
        return model.eval()


# --------------------------------------------------------------------------- embedder
class AisfxEmbedder:
    """FAD embedder: one 512-dim vector per 2.3 s block (hop 1.16 s) of a clip."""

    name = "aisfx"
    sample_rate = SAMPLE_RATE
    dim = EMBED_DIM

    def __init__(self, model: AisfxModel | None = None, batch_blocks: int = 32):
        self.model = model or AisfxModel.load()
        self.batch_blocks = batch_blocks  # blocks per forward pass (bounds memory)

    @torch.no_grad()
    def blocks(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at 44.1 kHz -> block spectrograms `[n_blocks, 100, 96]`."""
        return to_blocks(log_mel(wav.mean(dim=0)))

    @torch.no_grad()
    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at 44.1 kHz -> `[n_blocks, 512]`."""
        blocks = self.blocks(wav)
        return torch.cat([self.model.net(b) for b in blocks.split(self.batch_blocks)])

    def describe(self) -> dict:
        return {"name": self.name, "package": f"aisfx=={PACKAGE_VERSION}",
                "sample_rate": self.sample_rate, "dim": self.dim,
                "frame": f"{BLOCK_FRAMES * HOP / SAMPLE_RATE:.2f} s blocks, "
                         f"hop {BLOCK_HOP * HOP / SAMPLE_RATE:.2f} s"}


class AisfxClassifier:
    """KL classifier: one of the checkpoint's classifier heads on the block embeddings.

    Default head `ucsMixed`: 69 Universal Category System classes of a mixed set of libraries.
    The checkpoint carries no label names, so labels are `ucsMixed/0` ... `ucsMixed/68`. The
    clip's distribution is the mean of its blocks' softmax outputs.
    """

    name = "aisfx"
    sample_rate = SAMPLE_RATE

    def __init__(self, head_name: str = "ucsMixed", embedder: AisfxEmbedder | None = None):
        if head_name not in HEADS:
            raise AudiogenError(f"unknown aisfx head {head_name!r}; choose one of {sorted(HEADS)}")
        self.embedder = embedder or AisfxEmbedder()
        self.head_name = head_name
        index, n_classes = HEADS[head_name]
        self.head = self.embedder.model.heads[index]
        self.labels = [f"{head_name}/{i}" for i in range(n_classes)]

    embedder_name = AisfxEmbedder.name  # can classify that embedder's frames directly

    @torch.no_grad()
    def probabilities_from_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Block embeddings `[n_blocks, 512]` -> `[n_classes]`."""
        return torch.softmax(self.head(frames), dim=-1).mean(dim=0)

    def probabilities(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at 44.1 kHz -> `[n_classes]`."""
        return self.probabilities_from_frames(self.embedder.embed(wav))

    def describe(self) -> dict:
        return {"name": self.name, "head": self.head_name, "labels": len(self.labels),
                "package": f"aisfx=={PACKAGE_VERSION}",
                "note": "label names are not in the checkpoint; mean of per-block softmax"}

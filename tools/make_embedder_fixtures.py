"""Parity of the VGGish and PANNs CNN14 ports with the reference packages, and CI fixtures.

Run in a throwaway environment that has the reference packages (NOT needed by the project);
they cannot download anything here, so every network gets random weights:

    python3 -m venv /work/evalref
    /work/evalref/bin/pip install torch==2.13.0 torchvggish==0.2 panns-inference==0.1.1
    PYTHONPATH=. /work/evalref/bin/python tools/make_embedder_fixtures.py tests/fixtures/eval

1. Full size (the released architectures, random weights): each reference network is built,
   its state dict saved in the released file layout (torchvggish `VGG` state dict; PANNs
   {"model": Cnn14 state dict, "iteration", "sampler" with numpy arrays}), loaded by the
   port from that file, and both embed the same clip; the max abs differences are printed
   (docs/parity.md quotes them). Also: the reference's resampy path against the port's soxr
   resampling, for a 44.1 kHz clip.
2. Fixtures (< 1 MB each): the same comparison with reduced-width networks in the same key
   layout (the port reads widths from the weights), saved with the clip and the reference
   outputs, so tests/test_eval_embedders_vggish_panns.py checks parity without the packages.
   The PANNs fixture omits the STFT convolution weights (4 MB; the port computes the STFT
   with torch.stft and ignores them; the full-size run above includes them).

panns_inference reads AudioSet label names at import (and would fetch them with wget): HOME
is pointed at a temporary directory with a placeholder label file first.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

SEED = 20260525


def make_clip(seconds: float, sr: int, seed: int = 1) -> np.ndarray:
    """Chirp, gated noise and a decaying tone, peak about 0.8 (float32 of 16-bit values)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * (150 * t + 900 * t**2))
    x += 0.15 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 1.3 * t) > 0.2)
    x += 0.25 * np.sin(2 * np.pi * 660 * t) * np.exp(-4 * (t % 0.7))
    return (np.round(0.8 * x / np.abs(x).max() * 32767) / 32768).astype(np.float32)


def randomize(module: nn.Module, gen: torch.Generator, mel_mean: float | None = None) -> None:
    """He-normal weights, small random biases and batch norm statistics (keeps activations
    O(1) through the depth, unlike the default init, so differences are measured on values of
    a realistic size). `mel_mean`: running mean of the log-mel batch norm (dB input)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "extractor" in name:  # fixed STFT / mel front end
                continue
            if p.ndim > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / p[0].numel()) ** 0.5)
            elif name.endswith("weight"):  # batch norm scale
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(1.0 + torch.rand(b.shape, generator=gen))
        if mel_mean is not None:
            module.bn0.running_mean.add_(mel_mean)
            module.bn0.running_var.mul_(100.0)  # about 10 dB spread


# --------------------------------------------------------------------------- VGGish
def vggish_reference(channels, hidden: int, gen: torch.Generator):
    """torchvggish's VGG with the layer pattern of its `make_layers` at the given widths."""
    from torchvggish.torchvggish import VGG

    layers, c_in = [], 1
    for v in [channels[0], "M", channels[1], "M", channels[2], channels[3], "M",
              channels[4], channels[5], "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c_in = v
    ref = VGG(nn.Sequential(*layers), postprocess=False)
    ref.embeddings = nn.Sequential(nn.Linear(channels[5] * 24, hidden), nn.ReLU(True),
                                   nn.Linear(hidden, hidden), nn.ReLU(True),
                                   nn.Linear(hidden, 128), nn.ReLU(True))
    randomize(ref, gen)
    return ref.eval()


def vggish_outputs(ref, wav: np.ndarray, sr: int, pca: dict) -> dict[str, np.ndarray]:
    """The reference's examples and its three outputs: raw (last ReLU removed, as FAD tools
    do), relu (torchvggish without postprocessing) and pca (its default postprocessing)."""
    from torchvggish import vggish_input
    from torchvggish.torchvggish import Postprocessor

    x = vggish_input.waveform_to_examples(wav.astype(np.float64), sr).detach()
    with torch.no_grad():
        relu = ref(x)
        raw_net = nn.Sequential(*list(ref.embeddings.children())[:-1])
        saved, ref.embeddings = ref.embeddings, raw_net
        raw = ref(x)
        ref.embeddings = saved
        post = Postprocessor.__new__(Postprocessor)  # its __init__ downloads the parameters
        post._pca_matrix = torch.as_tensor(pca["pca_eigen_vectors"]).float()
        post._pca_means = torch.as_tensor(pca["pca_means"].reshape(-1, 1)).float()
        ref.pproc, ref.postprocess = post, True
        quantized = ref(x).reshape(len(x), -1)
        ref.postprocess = False
    return {"examples": x[:, 0].numpy(), "raw": raw.numpy(), "relu": relu.numpy(),
            "pca": quantized.numpy()}


def random_pca(dim: int, seed: int) -> dict[str, np.ndarray]:
    """Numpy arrays, as in the released PCA file: an orthogonal matrix scaled like a
    whitening transform and a mean vector."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return {"pca_eigen_vectors": (q * 0.8).astype(np.float32),
            "pca_means": (0.3 * rng.standard_normal(dim)).astype(np.float32)}


def vggish_port(directory: Path):
    from audiogen.eval.embedders.vggish import VGGishEmbedder, VGGishPCAEmbedder

    return VGGishEmbedder.from_path(directory), VGGishPCAEmbedder.from_path(directory)


def compare_vggish(directory: Path, channels, hidden: int, wav16: np.ndarray, seed: int,
                   full: bool) -> dict[str, np.ndarray]:
    from audiogen.eval.embedders.vggish import PCA_FILE, WEIGHTS_FILE, examples

    gen = torch.Generator().manual_seed(seed)
    ref = vggish_reference(channels, hidden, gen)
    pca = random_pca(128, seed)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(ref.state_dict(), directory / WEIGHTS_FILE)
    torch.save(pca, directory / PCA_FILE)
    out = vggish_outputs(ref, wav16, 16000, pca)
    plain, with_pca = vggish_port(directory)
    x = torch.from_numpy(wav16)[None]
    ours = {"examples": examples(x[0]).numpy(), "raw": plain.embed(x).numpy(),
            "relu": plain.network_output(x, final_relu=True).numpy(),
            "pca": with_pca.embed(x).numpy()}
    tag = "full size" if full else "fixture"
    for key in ("examples", "raw", "relu", "pca"):
        diff = np.abs(ours[key] - out[key])
        print(f"VGGish {tag} {key:8s} shape {out[key].shape} max|ref| "
              f"{np.abs(out[key]).max():.3g} max abs diff {diff.max():.3g}"
              + (f" ({int((diff > 0).sum())} of {diff.size} quantized values differ)"
                 if key == "pca" else ""))
    return out


def vggish_resampling(directory: Path) -> None:
    """Reference path for a 44.1 kHz clip (resampy inside torchvggish) against the port's
    (soxr in audiogen.audio.io.resample), on the same full-size random weights."""
    from torchvggish import vggish_input

    from audiogen.audio.io import resample

    plain, _ = vggish_port(directory)
    wav44 = make_clip(3.3, 44100, seed=2)
    ref_ex = vggish_input.waveform_to_examples(wav44.astype(np.float64), 44100).detach()
    ours_wav = resample(torch.from_numpy(wav44)[None], 44100, 16000)
    with torch.no_grad():
        ref_raw = plain.net(ref_ex[:, 0]).numpy()
    ours = plain.embed(ours_wav).numpy()
    n = min(len(ours), len(ref_raw))
    print(f"VGGish full size, 44.1 kHz input, resampy (reference) vs soxr (port): max abs diff "
          f"{np.abs(ours[:n] - ref_raw[:n]).max():.3g} (max|ref| {np.abs(ref_raw).max():.3g})")


# --------------------------------------------------------------------------- PANNs
def panns_reference(sample_rate: int, channels, gen: torch.Generator):
    """panns_inference's Cnn14 for a released front end, conv blocks at the given widths."""
    from panns_inference import models

    n_fft, f_max = {32000: (1024, 14000), 16000: (512, 8000)}[sample_rate]
    ref = models.Cnn14(sample_rate=sample_rate, window_size=n_fft, hop_size=sample_rate // 100,
                       mel_bins=64, fmin=50, fmax=f_max, classes_num=527)
    if tuple(channels) != (64, 128, 256, 512, 1024, 2048):
        ins = (1,) + tuple(channels[:-1])
        for b, (i, o) in enumerate(zip(ins, channels), start=1):
            setattr(ref, f"conv_block{b}", models.ConvBlock(in_channels=i, out_channels=o))
        ref.fc1 = nn.Linear(channels[-1], channels[-1])
        ref.fc_audioset = nn.Linear(channels[-1], 527)
    randomize(ref, gen, mel_mean=-40.0)
    return ref.eval()


def compare_panns(path: Path, sample_rate: int, channels, wav: np.ndarray, seed: int,
                  full: bool) -> dict[str, np.ndarray]:
    from audiogen.eval.embedders.panns import PannsEmbedder

    gen = torch.Generator().manual_seed(seed)
    ref = panns_reference(sample_rate, channels, gen)
    state = ref.state_dict()
    if not full:  # 4 MB of fixed STFT kernels the port does not read
        state = {k: v for k, v in state.items() if not k.startswith("spectrogram_extractor.")}
    sampler = {"indexes_per_class": [np.arange(5), np.arange(3)], "queue": [np.int64(7)],
               "pointers_of_classes": [0, 1]}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"iteration": 1000, "model": state, "sampler": sampler}, path)
    x = torch.from_numpy(wav)[None]
    with torch.no_grad():
        out = ref(x, None)
        logmel = ref.logmel_extractor(ref.spectrogram_extractor(x))[0, 0]
    port = PannsEmbedder.from_path(path)
    assert port.sample_rate == sample_rate, port.sample_rate
    emb, probs = port.outputs(x)
    ours = {"logmel": port.model.log_mel(x)[0].numpy(), "embedding": emb.numpy(),
            "clipwise": probs.numpy()}
    refs = {"logmel": logmel.numpy(), "embedding": out["embedding"].numpy(),
            "clipwise": out["clipwise_output"].numpy()}
    tag = f"{sample_rate // 1000} kHz {'full size' if full else 'fixture'}"
    for key in ("logmel", "embedding", "clipwise"):
        print(f"PANNs {tag} {key:9s} shape {refs[key].shape} max|ref| "
              f"{np.abs(refs[key]).max():.3g} max abs diff "
              f"{np.abs(ours[key] - refs[key]).max():.3g}")
    return refs


# --------------------------------------------------------------------------- main
def main(out: Path) -> None:
    torch.set_num_threads(1)
    home = Path(tempfile.mkdtemp())
    (home / "panns_data").mkdir()
    (home / "panns_data" / "class_labels_indices.csv").write_text(
        "index,mid,display_name\n" + "".join(f"{i},/m/{i},label {i}\n" for i in range(527)))
    os.environ["HOME"] = str(home)

    wav16 = make_clip(3.3, 16000)
    wav32 = make_clip(2.2, 32000)
    scratch = Path(tempfile.mkdtemp())
    full = sys.argv[2:] != ["--fixtures-only"]
    if full:
        compare_vggish(scratch / "vggish", (64, 128, 256, 256, 512, 512), 4096, wav16, SEED,
                       full=True)
        vggish_resampling(scratch / "vggish")
        for sr, wav in ((32000, wav32), (16000, wav16)):
            compare_panns(scratch / f"panns{sr}.pth", sr, (64, 128, 256, 512, 1024, 2048), wav,
                          SEED, full=True)

    out.mkdir(parents=True, exist_ok=True)
    sf.write(str(out / "embedder_clip_16k.wav"), wav16, 16000, subtype="PCM_16")
    sf.write(str(out / "embedder_clip_32k.wav"), wav32, 32000, subtype="PCM_16")
    vggish = compare_vggish(out / "vggish_random", (4, 8, 16, 16, 32, 32), 32, wav16, SEED + 1,
                            full=False)
    np.savez(out / "vggish_random" / "reference_outputs.npz", **vggish)
    for sr, wav, channels, name in ((32000, wav32, (2, 4, 8, 16, 32, 64), "Cnn14_mAP=0.431.pth"),
                                    (16000, wav16, (2, 4, 8, 8, 16, 32),
                                     "Cnn14_16k_mAP=0.438.pth")):
        folder = out / f"panns{sr // 1000}k_random"
        refs = compare_panns(folder / name, sr, channels, wav, SEED + 2, full=False)
        np.savez(folder / "reference_outputs.npz", **refs)
    for f in sorted(out.rglob("*")):
        if f.is_file() and ("random" in str(f) or "embedder_clip" in f.name):
            print(f"{f.relative_to(out)}: {f.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

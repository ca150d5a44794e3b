"""Pictures, drawn with matplotlib: training curves and spectrograms, written as PNG.

Used by `audiogen plot` (training curves), the evaluation reports and `evaluate-codec`
(spectrograms of clips stacked for comparison) and the web page (one spectrogram per result).

matplotlib is an optional dependency (the `eval` and `ui` extras), imported only when a picture
is drawn. Figures are built with `matplotlib.figure.Figure` and its Agg canvas, never pyplot:
no display is needed and no global figure state is shared between the web page's threads.

Spectrograms use the codec's own mel filter bank (`audiogen.codec.mel`, HTK mel scale), so a
picture shows the same bands the codec's mel loss and the mel distance measure.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiogen.errors import AudiogenError
from audiogen.fileio import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'audiogen[eval]'"
N_MELS = 80  # mel bands of a spectrogram picture
N_FFT = 1024  # its FFT and window size in samples (hop N_FFT / 4)
TOP_DB = 80.0  # dynamic range shown: the loudest bin of a picture and TOP_DB below it
HZ_TICKS = (0, 250, 500, 1000, 2000, 4000, 8000, 16000, 24000)  # frequency labels, where in range


def require_matplotlib() -> None:
    """Raise a clear error naming the extra when matplotlib is missing (call before long work)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise AudiogenError(
            f"drawing pictures needs matplotlib, which is not installed: {INSTALL_HINT}")


def _figure(width: float, height: float) -> Figure:
    """An empty figure, `width` x `height` inches at 100 pixels per inch."""
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_png(fig: Figure, path: str | os.PathLike) -> None:
    """Write `fig` as a PNG, atomically (a temp file beside `path`, then a rename)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def log_mel_db(wav: torch.Tensor, sample_rate: int) -> np.ndarray:
    """Mel power in dB `[N_MELS, frames]` (low frequencies first) of a mono clip `wav [T]`."""
    from audiogen.codec.mel import MelSpectrogram

    x = wav.detach().to(torch.float32).reshape(1, 1, -1)
    if x.shape[-1] < N_FFT:  # the codec's framing reflects N_FFT / 2 samples at each end
        x = torch.nn.functional.pad(x, (0, N_FFT - x.shape[-1]))
    with torch.no_grad():
        mel = MelSpectrogram(sample_rate, N_FFT, n_mels=N_MELS)(x)[0]
    return (10 * torch.log10(mel.clamp_min(1e-10))).numpy()


def _hz_to_mel(hz: float | np.ndarray) -> float | np.ndarray:
    from transformers.audio_utils import hertz_to_mel

    return hertz_to_mel(hz, mel_scale="htk")  # the scale of `audiogen.codec.mel.mel_filters`


def spectrogram_figure(wavs: list[torch.Tensor], sample_rate: int,
                       titles: list[str] | None = None) -> Figure:
    """Mel spectrograms of mono clips `wavs[i] [T_i]`, stacked top to bottom on one time axis.

    All panels share one colour scale (the loudest bin of all at the top of the colour bar,
    TOP_DB below it at the bottom), so a quieter clip looks darker; a shorter clip leaves the
    rest of its panel blank. Time in seconds; frequency on the mel scale, labelled in Hz.
    """
    specs = [log_mel_db(w, sample_rate) for w in wavs]
    peak = max(float(s.max()) for s in specs)
    mel_top = float(_hz_to_mel(sample_rate / 2))
    longest = max(w.numel() for w in wavs) / sample_rate
    fig = _figure(8.0, 0.6 + 1.7 * len(wavs))
    axes = fig.subplots(len(wavs), 1, sharex=True, squeeze=False)[:, 0]
    ticks = [f for f in HZ_TICKS if f <= sample_rate / 2]
    image = None
    for k, (ax, spec, wav) in enumerate(zip(axes, specs, wavs)):
        image = ax.imshow(spec, origin="lower", aspect="auto", cmap="magma",
                          vmin=peak - TOP_DB, vmax=peak, interpolation="nearest",
                          extent=(0.0, wav.numel() / sample_rate, 0.0, mel_top))
        ax.set_xlim(0.0, longest)
        ax.set_yticks([float(_hz_to_mel(f)) for f in ticks], [f"{f:g}" for f in ticks])
        ax.set_ylabel("Hz (mel scale)")
        if titles is not None:
            ax.set_title(titles[k], fontsize=10, loc="left")
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(image, ax=list(axes), label="power (dB)")
    return fig


def spectrogram_image(wavs: list[torch.Tensor], sample_rate: int, path: str | os.PathLike,
                      titles: list[str] | None = None) -> None:
    """`spectrogram_figure` written to `path` as a PNG."""
    save_png(spectrogram_figure(wavs, sample_rate, titles), path)


def _series(records: list[dict], split: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of `key` in the records of `split`; non-finite values read as NaN."""
    rows = [r for r in records if r["split"] == split and key in r]
    values = [math.nan if isinstance(r[key], str) else float(r[key]) for r in rows]
    return np.array([r["step"] for r in rows], float), np.array(values, float)


def _panels(records: list[dict]) -> list[dict[str, Any]]:
    """What to draw: an LM run's cross-entropy and perplexities, or a codec run's losses and
    validation metrics (`metrics.jsonl` of `audiogen train lm` / `train codec`)."""
    keys = {k for r in records for k in r}
    if "ce" in keys or not any(k.startswith("g/") for k in keys):
        books = sorted((k for k in keys if k.startswith("ppl/q")), key=lambda k: int(k[5:]))
        return [{"title": "loss", "ylabel": "cross-entropy (nats)", "log": False,
                 "series": [("train", "train", "ce"), ("valid", "valid", "ce")]},
                {"title": "perplexity per codebook", "ylabel": "perplexity", "log": True,
                 "series": [(f"{s} {k[4:]}", s, k) for s in ("train", "valid") for k in books]}]
    losses = sorted(k for k in keys if k.startswith(("g/", "d/")))
    return [{"title": "training losses", "ylabel": "loss", "log": True,
             "series": [(k, "train", k) for k in losses]},
            {"title": "validation: mel distance", "ylabel": "mel distance", "log": False,
             "series": [("valid", "valid", "mel_distance")]},
            {"title": "validation: SI-SNR", "ylabel": "SI-SNR (dB)", "log": False,
             "series": [("valid", "valid", "si_snr_db")]}]


def curves_figure(records: list[dict]) -> Figure:
    """Training curves of metrics records (`audiogen.train.metrics.read_metrics`) against step.

    Validation series are dashed; a series of one record is drawn as a dot; NaN and infinite
    values (a diverged step) leave a gap; a panel without data says so.
    """
    panels = _panels(records)
    fig = _figure(9.0, 0.8 + 2.8 * len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels):
        drawn = 0
        keys = list(dict.fromkeys(key for _, _, key in panel["series"]))
        for n, (label, split, key) in enumerate(panel["series"]):
            # one colour per metric (train solid, valid dashed); per series if all share one
            colour = f"C{(keys.index(key) if len(keys) > 1 else n) % 10}"
            steps, values = _series(records, split, key)
            ok = np.isfinite(values) & ((values > 0) if panel["log"] else True)
            if not ok.any():
                continue
            ax.plot(steps[ok], values[ok], label=label, color=colour, linewidth=1.2,
                    marker="o" if ok.sum() == 1 else None,
                    linestyle="--" if split == "valid" else "-")
            drawn += 1
        if panel["log"] and drawn:
            ax.set_yscale("log")
        if drawn:
            ax.legend(fontsize=8, ncols=min(drawn, 4))
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")
        ax.set_title(panel["title"], fontsize=10, loc="left")
        ax.set_ylabel(panel["ylabel"])
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    axes[-1].xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers
    return fig


def plot_curves(records: list[dict], path: str | os.PathLike) -> None:
    """`curves_figure` written to `path` as a PNG."""
    save_png(curves_figure(records), path)

"""Pictures (audiogen.plots): training curves and spectrograms drawn with matplotlib."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from transformers.audio_utils import hertz_to_mel

from audiogen.errors import AudiogenError
from audiogen.plots import (
    TOP_DB,
    curves_figure,
    log_mel_db,
    plot_curves,
    require_matplotlib,
    spectrogram_figure,
    spectrogram_image,
)

pytest.importorskip("matplotlib", reason="the pictures need matplotlib (audiogen[eval])")

SR = 16000


def _tone(hz: float, seconds: float = 1.0, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * SR)) / SR
    return amp * torch.sin(2 * math.pi * hz * t)


def _lm_records():
    rows = []
    for step in range(1, 6):
        rows.append({"split": "train", "step": step, "ce": 5.0 - 0.5 * step,
                     "ppl/q0": 100.0 / step, "ppl/q1": 80.0 / step})
        if step % 2 == 0:
            rows.append({"split": "valid", "step": step, "ce": 5.2 - 0.5 * step,
                         "ppl/q0": 110.0 / step, "ppl/q1": 90.0 / step})
    return rows


def _png_size(path) -> tuple[int, int]:
    from matplotlib.image import imread

    height, width = imread(str(path)).shape[:2]
    return width, height


def _lines(ax) -> dict[str, tuple]:
    return {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata()), ln.get_linestyle(),
                             ln.get_color()) for ln in ax.get_lines()}


def test_lm_curves_have_labelled_axes_and_the_records_values():
    fig = curves_figure(_lm_records())
    loss, ppl = fig.axes
    assert (loss.get_ylabel(), ppl.get_ylabel()) == ("cross-entropy (nats)", "perplexity")
    assert ppl.get_xlabel() == "step" and ppl.get_yscale() == "log"
    lines = _lines(loss)
    assert lines["train"][:3] == ([1, 2, 3, 4, 5], [4.5, 4.0, 3.5, 3.0, 2.5], "-")
    assert lines["valid"][:3] == ([2, 4], [pytest.approx(4.2), pytest.approx(3.2)], "--")
    per_book = _lines(ppl)
    assert set(per_book) == {"train q0", "train q1", "valid q0", "valid q1"}
    assert per_book["train q1"][3] == per_book["valid q1"][3] != per_book["train q0"][3]


def test_codec_curves_show_losses_and_validation_metrics():
    records = [{"split": "train", "step": s, "g/mel": 2.0 / s, "g/l1": 0.5 / s, "d/hinge": 1.0}
               for s in (1, 2, 3)]
    records += [{"split": "valid", "step": 3, "si_snr_db": -4.5, "mel_distance": 0.9}]
    fig = curves_figure(records)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "mel distance", "SI-SNR (dB)"]
    assert set(_lines(fig.axes[0])) == {"g/mel", "g/l1", "d/hinge"}
    (x, y, _, _), = _lines(fig.axes[2]).values()
    assert (x, y) == ([3], [-4.5])
    assert fig.axes[2].get_lines()[0].get_marker() == "o"  # a single record shows as a dot


def test_curves_leave_gaps_for_non_finite_values_and_say_no_data(tmp_path):
    records = [{"split": "train", "step": 1, "ce": "nan", "ppl/q0": "inf"},
               {"split": "train", "step": 2, "ce": 3.0, "ppl/q0": "inf"},
               {"split": "valid", "step": 2, "ce": 2.0}]
    fig = curves_figure(records)
    assert _lines(fig.axes[0])["train"][:2] == ([2], [3.0])
    assert not fig.axes[1].get_lines()
    assert [t.get_text() for t in fig.axes[1].texts] == ["no data"]
    plot_curves(records, tmp_path / "c.png")
    assert _png_size(tmp_path / "c.png") == (900, 640)
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temp file left behind


def test_spectrogram_shows_a_tone_at_its_frequency_on_a_shared_db_scale():
    quiet, loud = _tone(1000, amp=0.05), _tone(3000, seconds=0.5)
    fig = spectrogram_figure([quiet, loud], SR, titles=["quiet 1 kHz", "loud 3 kHz"])
    top, bottom, colourbar = fig.axes
    assert [top.get_title(loc="left"), bottom.get_title(loc="left")] == ["quiet 1 kHz",
                                                                         "loud 3 kHz"]
    assert bottom.get_xlabel() == "time (s)" and top.get_ylabel() == "Hz (mel scale)"
    assert colourbar.get_ylabel() == "power (dB)"
    peak = float(log_mel_db(loud, SR).max())
    for ax, seconds in ((top, 1.0), (bottom, 0.5)):
        image = ax.get_images()[0]
        assert image.get_clim() == (pytest.approx(peak - TOP_DB), pytest.approx(peak))
        assert image.get_extent()[1] == pytest.approx(seconds)
        assert ax.get_xlim() == (0.0, 1.0)  # the shorter clip leaves its panel's end blank
    labels = [t.get_text() for t in top.get_yticklabels()]
    assert labels == ["0", "250", "500", "1000", "2000", "4000", "8000"]
    # the brightest band of each panel sits at the tone's frequency (HTK mel) on the y axis
    for ax, hz in ((top, 1000), (bottom, 3000)):
        image = ax.get_images()[0]
        spec = image.get_array()
        y_lo, y_hi = image.get_extent()[2:]
        band_height = (y_hi - y_lo) / spec.shape[0]
        y = y_lo + (int(np.argmax(spec.mean(axis=1))) + 0.5) * band_height
        assert abs(y - hertz_to_mel(hz, mel_scale="htk")) < band_height


def test_spectrogram_png_of_a_clip_shorter_than_one_window(tmp_path):
    spectrogram_image([_tone(440, seconds=0.01)], SR, tmp_path / "s.png")
    assert _png_size(tmp_path / "s.png") == (800, 230)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(AudiogenError, match=r"matplotlib.*pip install 'audiogen\[eval\]'"):
        require_matplotlib()
    with pytest.raises(AudiogenError, match="matplotlib"):
        curves_figure(_lm_records())

"""`audiogen evaluate-codec`: reconstruction quality of codecs, side by side with Opus.

For each clip (mono, at the codecs' rate, cropped to `seconds`), every system's output is
compared with the clip:

    each codec:  wav -> encode -> decode
    Opus:        wav -> ffmpeg libopus -> decode, at 6 kbps, at the first codec's bitrate and
                 at 3x it (libopus accepts no less than 6 kbps, so lower ones are raised to
                 it; for a 2.2 kbps codec that is 6 and 6.6 kbps, above the codec's bitrate,
                 which only makes the comparison harder for the codec)

    metrics:     SI-SNR, multi-scale mel distance, pitch fidelity (`audiogen.eval.pitch`:
                 the share of the clip's voiced frames whose f0 the system kept within
                 50 cents), PESQ and STOI on request

Means are over clips; pitch fidelity pools the voiced frames of all clips. Opus systems need
`ffmpeg` with libopus on the PATH and pitch fidelity needs librosa; without them those columns
are left out and the report says why. PESQ (wide band) and STOI are added with `speech=True`
when the `pesq` / `pystoi` packages are installed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from audiogen.audio.io import load_audio
from audiogen.codec.metrics import mel_distance, si_snr
from audiogen.errors import AudiogenError
from audiogen.eval.pitch import (
    FMAX_HZ,
    FMIN_HZ,
    TOLERANCE_CENTS,
    PitchScore,
    f0_track,
    librosa_missing,
    pitch_agreement,
)

OPUS_MIN_BPS = 6000  # libopus's lowest bitrate


@dataclass
class CodecEvalConfig:
    seconds: float | None = 10.0  # crop each file to its first `seconds` (None: whole file)
    max_files: int | None = None  # evaluate at most this many files (sorted order; None: all)
    opus: bool = True  # add the Opus columns (needs ffmpeg with libopus)
    speech: bool = False  # add PESQ (wide band) and STOI (needs `pesq` / `pystoi`)
    pitch: bool = True  # add pitch fidelity (needs librosa; left out with a note without it)
    spectrograms: int = 0  # draw the first this many clips, every system stacked (matplotlib)


def ffmpeg_opus_available() -> str | None:
    """None if ffmpeg with libopus is usable, else the reason it is not."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return "ffmpeg is not installed (e.g. apt-get install ffmpeg)"
    out = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True,
                         check=False)
    if "libopus" not in out.stdout:
        return "this ffmpeg has no libopus encoder"
    return None


def opus_roundtrip(wav: torch.Tensor, sample_rate: int, bitrate: int, workdir: Path) -> torch.Tensor:
    """Encode `wav [1, T]` with libopus at `bitrate` b/s and decode it back to `[1, T]`.

    ffmpeg honours Opus's pre-skip and end trimming, so the decoded clip is aligned with the
    input; it is cut or zero-padded to exactly T samples.
    """
    src, enc, dec = workdir / "in.wav", workdir / "enc.opus", workdir / "dec.wav"
    sf.write(str(src), wav[0].numpy(), sample_rate, subtype="FLOAT")
    base = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    for cmd in (base + ["-i", str(src), "-c:a", "libopus", "-b:a", str(bitrate), str(enc)],
                base + ["-i", str(enc), "-ar", str(sample_rate), "-ac", "1", "-c:a", "pcm_f32le",
                        str(dec)]):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise AudiogenError(f"ffmpeg failed ({' '.join(cmd[5:])}): {done.stderr.strip()}")
    out, _ = sf.read(str(dec), dtype="float32", always_2d=True)
    out = torch.from_numpy(np.ascontiguousarray(out[:, 0]))[None]
    length = wav.shape[-1]
    if out.shape[-1] < length:
        out = torch.nn.functional.pad(out, (0, length - out.shape[-1]))
    return out[..., :length]


def speech_metrics(estimate: torch.Tensor, reference: torch.Tensor,
                   sample_rate: int) -> dict[str, float]:
    """PESQ (wide band, 16 kHz only) and STOI where their packages are installed."""
    out: dict[str, float] = {}
    est, ref = estimate[0].numpy().astype(np.float64), reference[0].numpy().astype(np.float64)
    try:
        from pesq import pesq

        if sample_rate == 16000:
            out["pesq_wb"] = float(pesq(sample_rate, ref, est, "wb"))
    except ImportError:
        pass
    try:
        from pystoi import stoi

        out["stoi"] = float(stoi(ref, est, sample_rate, extended=False))
    except ImportError:
        pass
    return out


def clip_metrics(estimate: torch.Tensor, reference: torch.Tensor, sample_rate: int,
                 speech: bool) -> dict[str, float]:
    """SI-SNR (dB) and mel distance of `estimate [1, T]` against `reference [1, T]`."""
    m = {"si_snr": float(si_snr(estimate[None], reference[None])[0]),
         "mel_distance": float(mel_distance(estimate[None], reference[None], sample_rate)[0])}
    if speech:
        m.update(speech_metrics(estimate, reference, sample_rate))
    return m


def opus_bitrates(codec_bitrate: float) -> dict[str, int]:
    """Opus systems by name: 6 kbps, the codec's bitrate and 3x it, each at least 6 kbps."""
    rates = {OPUS_MIN_BPS, max(OPUS_MIN_BPS, round(codec_bitrate)),
             max(OPUS_MIN_BPS, round(3 * codec_bitrate))}
    return {f"opus-{bps / 1000:g}kbps": bps for bps in sorted(rates)}


def reconstruct(codec: Any, wav: torch.Tensor) -> torch.Tensor:
    """`wav [1, T]` through the codec (encode, decode) -> `[1, T]`."""
    with torch.no_grad():
        return codec.decode(codec.encode(wav[None]))[0, :, : wav.shape[-1]]


def evaluate_codec(codecs: dict[str, Any], files: list[Path], cfg: CodecEvalConfig,
                   root: Path | None = None, pictures: Path | None = None) -> dict:
    """Metrics of every system (the codecs by name, then Opus) over `files`; deterministic.

    `root`: file names in the report are relative to it. `pictures`: folder for the
    `cfg.spectrograms` PNGs (original, each codec, each Opus, top to bottom).
    """
    rates = {name: int(codec.sample_rate) for name, codec in codecs.items()}
    if len(set(rates.values())) > 1:
        raise AudiogenError(f"codecs at different sample rates ({rates}) cannot be compared in "
                            "one table: evaluate them in separate runs.")
    sr = next(iter(rates.values()))
    first = next(iter(codecs.values()))
    systems: dict[str, dict[str, Any]] = {
        name: {"bitrate": float(codec.bitrate)} for name, codec in codecs.items()}
    opus_reason = ffmpeg_opus_available() if cfg.opus else "not requested (--no-opus)"
    opus = opus_bitrates(first.bitrate) if opus_reason is None else {}
    systems |= {name: {"bitrate": float(bps)} for name, bps in opus.items()}
    pitch_reason = (librosa_missing() if cfg.pitch else "not requested (--no-pitch)")
    per_clip: dict[str, list[dict[str, Any]]] = {name: [] for name in systems}
    pooled = {name: PitchScore(0, 0) for name in systems}
    clips: list[dict[str, Any]] = []
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="audiogen-opus-") as tmp:
        for index, path in enumerate(files):
            wav, _ = load_audio(path, sample_rate=sr, channels=1, duration=cfg.seconds)
            seconds += wav.shape[-1] / sr
            outputs = {name: reconstruct(codec, wav) for name, codec in codecs.items()}
            outputs |= {name: opus_roundtrip(wav, sr, bps, Path(tmp)) for name, bps in opus.items()}
            clip = {"file": str(path.relative_to(root) if root else path.name),
                    "seconds": round(wav.shape[-1] / sr, 3)}
            metrics, scores = measure_clip(wav, outputs, sr, cfg.speech, pitch_reason is None)
            for name, score in scores.items():
                pooled[name] += score
                clip["voiced_frames"] = score.voiced  # the original's: the same for every system
            clip |= metrics
            for name, row in metrics.items():
                per_clip[name].append(row)
            clips.append(clip)
            if pictures is not None and index < cfg.spectrograms:
                titles = [f"{name} ({systems[name]['bitrate'] / 1000:g} kbps)" for name in outputs]
                draw_clip(wav, outputs, sr, pictures / f"clip_{index:02d}.png",
                          [f"original: {clip['file']}", *titles])
    for name, rows in per_clip.items():
        for key in rows[0]:
            if key != "pitch_50c":
                systems[name][key] = float(np.mean([r[key] for r in rows]))
        if pitch_reason is None:
            systems[name]["pitch_50c"] = pooled[name].share
    result = {"files": len(files), "seconds": round(seconds, 3), "sample_rate": sr,
              "systems": systems, "codecs": list(codecs), "clips": clips,
              "opus": {"available": opus_reason is None},
              "pitch": {"available": pitch_reason is None}}
    if opus_reason is not None:
        result["opus"]["reason"] = opus_reason
    elif first.bitrate < OPUS_MIN_BPS:
        result["opus"]["note"] = (f"the codec's {first.bitrate / 1000:g} kbps is below libopus's "
                                  "6 kbps minimum: Opus runs at 6 kbps or more")
    if pitch_reason is not None:
        result["pitch"]["reason"] = pitch_reason
    else:
        result["pitch"]["voiced_frames"] = next(iter(pooled.values())).voiced
    if cfg.speech:
        missing = [p for p in ("pesq", "pystoi") if not _importable(p)]
        if missing:
            result["speech_metrics_missing"] = missing
    if pictures is not None and cfg.spectrograms > 0:
        result["spectrograms"] = [f"{pictures.name}/clip_{k:02d}.png"
                                  for k in range(min(cfg.spectrograms, len(files)))]
    return result


def measure_clip(wav: torch.Tensor, outputs: dict[str, torch.Tensor], sample_rate: int,
                 speech: bool, pitch: bool
                 ) -> tuple[dict[str, dict[str, Any]], dict[str, PitchScore]]:
    """Each system's output `[1, T]` against the clip `wav [1, T]`.

    Returns (metrics by system, pitch scores by system); with `pitch`, the metrics carry
    `pitch_50c` (None when the clip has no voiced frames), else the scores are empty.
    """
    metrics = {name: clip_metrics(out, wav, sample_rate, speech) for name, out in outputs.items()}
    scores: dict[str, PitchScore] = {}
    if pitch:
        original_f0 = f0_track(wav[0], sample_rate)
        for name, out in outputs.items():
            scores[name] = pitch_agreement(original_f0, f0_track(out[0], sample_rate))
            metrics[name]["pitch_50c"] = scores[name].share
    return metrics, scores


def draw_clip(wav: torch.Tensor, outputs: dict[str, torch.Tensor], sample_rate: int,
              path: Path, titles: list[str]) -> None:
    """One PNG: the original `wav [1, T]` above each system's output `[1, T]`."""
    from audiogen.plots import spectrogram_image

    spectrogram_image([wav[0], *(out[0] for out in outputs.values())], sample_rate, path,
                      titles=titles)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def markdown(report: dict) -> str:
    """A table with one row per system, the per-clip pitch table, notes and pictures."""
    systems = report["systems"]
    keys = list(dict.fromkeys(k for row in systems.values() for k in row if k != "bitrate"))
    models = ", ".join(f"`{m}`" for m in report["models"])
    lines = ["# Codec evaluation", "",
             (f"Codec(s) {models} on `{report['data']}`: {report['files']} files, "
              f"{report['seconds']:.1f} s at {report['sample_rate']} Hz (mono)."), "",
             "| system | kbps | " + " | ".join(keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for name, row in systems.items():
        cells = " | ".join(_cell(row.get(k)) for k in keys)
        lines.append(f"| {name} | {row['bitrate'] / 1000:.2f} | {cells} |")
    opus, pitch = report["opus"], report["pitch"]
    if not opus["available"]:
        lines += ["", f"Opus: not available ({opus['reason']})."]
    elif "note" in opus:
        lines += ["", f"Note: {opus['note']}."]
    if not pitch["available"]:
        lines += ["", f"Pitch fidelity: not measured ({pitch['reason']})."]
    elif not pitch["voiced_frames"]:
        lines += ["", "Pitch fidelity: n/a, the clips have no voiced frames."]
    lines += ["", ("SI-SNR: scale-invariant signal-to-noise ratio in dB (higher is better). "
                   "mel_distance: mean over n_fft 64..1024 of the L1 distance of log10 mel "
                   "spectrograms (lower is better). pitch_50c: share of the originals' voiced "
                   f"frames (pYIN, {FMIN_HZ:g}..{FMAX_HZ:g} Hz) whose f0 the system kept within "
                   f"{TOLERANCE_CENTS:g} cents, a frame it made unvoiced counting as a miss "
                   "(higher is better).")]
    if pitch["available"] and pitch["voiced_frames"]:
        lines += ["", "## Pitch fidelity per clip", "",
                  "| file | voiced frames | " + " | ".join(systems) + " |",
                  "|---|---|" + "---|" * len(systems)]
        for clip in report["clips"]:
            cells = " | ".join(_cell(clip[name]["pitch_50c"]) for name in systems)
            lines.append(f"| {clip['file']} | {clip['voiced_frames']} | {cells} |")
    for image in report.get("spectrograms", []):
        lines += ["", f"![{image}]({image})"]
    return "\n".join(lines) + "\n"


def summary_line(report: dict) -> str:
    """`codec vs opus-6kbps mel distance: X vs Y` (X: the first codec's mean; n/a without Opus)."""
    systems = report["systems"]
    codec = systems[report["codecs"][0]]["mel_distance"]
    opus = systems.get("opus-6kbps", {}).get("mel_distance")
    return f"codec vs opus-6kbps mel distance: {codec:.3f} vs {_cell(opus)}"

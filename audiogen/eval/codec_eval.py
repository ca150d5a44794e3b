"""`audiogen evaluate-codec`: reconstruction quality of a codec, side by side with Opus.

For each clip (mono, at the codec's rate, cropped to `seconds`):

    codec:      wav -> encode -> decode -> SI-SNR, multi-scale mel distance vs wav
    opus @ 1x:  wav -> ffmpeg libopus at the codec's bitrate -> decode -> same metrics
    opus @ 3x:  the same at three times that bitrate

libopus accepts no less than 6 kbps: a lower bitrate is raised to 6 kbps (for the released
2.2 kbps codec both Opus columns are then above the codec's bitrate, which only makes the
comparison harder for the codec). Opus columns need `ffmpeg` with libopus on the PATH;
without it they are reported as not available. PESQ (wide band) and STOI are added with
`speech=True` when the `pesq` / `pystoi` packages are installed.
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

OPUS_MIN_BPS = 6000  # libopus's lowest bitrate


@dataclass
class CodecEvalConfig:
    seconds: float | None = 10.0  # crop each file to its first `seconds` (None: whole file)
    max_files: int | None = None  # evaluate at most this many files (sorted order; None: all)
    opus: bool = True  # add the Opus columns (needs ffmpeg with libopus)
    speech: bool = False  # add PESQ (wide band) and STOI (needs `pesq` / `pystoi`)


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
    """Opus columns: the codec's bitrate and 3x it, each raised to libopus's 6 kbps minimum."""
    return {"opus_1x": max(OPUS_MIN_BPS, round(codec_bitrate)),
            "opus_3x": max(OPUS_MIN_BPS, round(3 * codec_bitrate))}


def evaluate_codec(codec: Any, files: list[Path], cfg: CodecEvalConfig) -> dict:
    """Per-system mean metrics over `files` (see the module doc); deterministic."""
    sr = int(codec.sample_rate)
    systems: dict[str, dict[str, Any]] = {"codec": {"bitrate": float(codec.bitrate)}}
    opus_reason = ffmpeg_opus_available() if cfg.opus else "not requested (--no-opus)"
    if opus_reason is None:
        for name, bps in opus_bitrates(codec.bitrate).items():
            systems[name] = {"bitrate": float(bps)}
    per_clip: dict[str, list[dict[str, float]]] = {name: [] for name in systems}
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="audiogen-opus-") as tmp:
        for path in files:
            wav, _ = load_audio(path, sample_rate=sr, channels=1, duration=cfg.seconds)
            seconds += wav.shape[-1] / sr
            with torch.no_grad():
                recon = codec.decode(codec.encode(wav[None]))[0, :, : wav.shape[-1]]
            per_clip["codec"].append(clip_metrics(recon, wav, sr, cfg.speech))
            for name in systems:
                if name.startswith("opus"):
                    decoded = opus_roundtrip(wav, sr, int(systems[name]["bitrate"]), Path(tmp))
                    per_clip[name].append(clip_metrics(decoded, wav, sr, cfg.speech))
    for name, rows in per_clip.items():
        for key in rows[0]:
            systems[name][key] = float(np.mean([r[key] for r in rows]))
    result = {"files": len(files), "seconds": round(seconds, 3), "sample_rate": sr,
              "systems": systems, "opus": {"available": opus_reason is None}}
    if opus_reason is not None:
        result["opus"]["reason"] = opus_reason
    elif codec.bitrate < OPUS_MIN_BPS:
        result["opus"]["note"] = (f"the codec's {codec.bitrate / 1000:g} kbps is below libopus's "
                                  "6 kbps minimum: Opus runs at 6 kbps or more")
    if cfg.speech:
        missing = [p for p in ("pesq", "pystoi") if not _importable(p)]
        if missing:
            result["speech_metrics_missing"] = missing
    return result


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def markdown(report: dict) -> str:
    """A table: one row per system (codec, Opus at 1x, Opus at 3x)."""
    systems = report["systems"]
    keys = [k for k in systems["codec"] if k != "bitrate"]
    lines = ["# Codec evaluation", "",
             (f"Codec `{report['model']}` on `{report['data']}`: {report['files']} files, "
              f"{report['seconds']:.1f} s at {report['sample_rate']} Hz (mono)."), "",
             "| system | kbps | " + " | ".join(keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for name, row in systems.items():
        cells = " | ".join(f"{row[k]:.3f}" for k in keys)
        lines.append(f"| {name} | {row['bitrate'] / 1000:.2f} | {cells} |")
    opus = report["opus"]
    if not opus["available"]:
        lines += ["", f"Opus: not available ({opus['reason']})."]
    elif "note" in opus:
        lines += ["", f"Note: {opus['note']}."]
    lines += ["", ("SI-SNR: scale-invariant signal-to-noise ratio in dB (higher is better). "
                   "mel_distance: mean over n_fft 64..1024 of the L1 distance of log10 mel "
                   "spectrograms (lower is better).")]
    return "\n".join(lines) + "\n"

"""Evaluation reports: the JSON (for machines) and a Markdown page with spectrograms (for people).

    REPORT.json           every number and setting (deterministic: no dates, no timings)
    REPORT.md             the metrics table, the settings, warnings, pictures
    REPORT_files/*.png    mel spectrograms (matplotlib): each generated clip above its reference
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from audiogen.errors import AudiogenError
from audiogen.eval.audio_sets import AudioSet, load_clip
from audiogen.eval.kl import pair_by_stem
from audiogen.fileio import atomic_path, write_json
from audiogen.plots import spectrogram_image

IMAGE_RATE = 16000  # spectrogram pictures are drawn at 16 kHz (0..8 kHz shown)
IMAGE_SECONDS = 20  # and show at most the first 20 s of a clip

METRIC_NOTES = {
    "fad": "Fréchet distance between Gaussian fits of embeddings (lower is better)",
    "fad_inf": "FAD extrapolated to infinitely many generated clips (lower is better)",
    "kl": "KL(reference ‖ generated) of classifier label distributions, paired files "
          "(lower is better)",
    "clap": "cosine similarity of CLAP text and audio embeddings (higher is better)",
}


def draw_pairs(report: dict, gen: AudioSet, ref: AudioSet, folder: Path, count: int,
               seed: int) -> list[dict]:
    """Draw up to `count` spectrogram pictures; pairs by file name, else one clip of each."""
    if count <= 0:
        return []
    try:
        pairs, _, _ = pair_by_stem([str(p) for p in gen.files], [str(p) for p in ref.files])
    except AudiogenError:  # duplicate names: draw unpaired clips
        pairs = []
    if not pairs:
        pairs = list(zip(range(len(gen.files)), range(len(ref.files))))
    order = np.random.default_rng(seed).permutation(len(pairs))[:count]
    images = []
    for k, idx in enumerate(sorted(order)):
        gi, ri = pairs[idx]
        wavs = [load_clip(gen, gi, IMAGE_RATE, IMAGE_RATE)[0, : IMAGE_SECONDS * IMAGE_RATE],
                load_clip(ref, ri, IMAGE_RATE, IMAGE_RATE)[0, : IMAGE_SECONDS * IMAGE_RATE]]
        name = f"pair_{k:02d}.png"
        spectrogram_image(wavs, IMAGE_RATE, folder / name,
                          titles=[f"generated: {gen.relative(gi)}",
                                  f"reference: {ref.relative(ri)}"])
        images.append({"image": f"{folder.name}/{name}", "generated": gen.relative(gi),
                       "reference": ref.relative(ri)})
    return images


def _fmt(section: dict, digits: int = 3) -> str:
    if not section.get("available"):
        return "not available"
    return f"{section['value']:.{digits}f}"


def markdown(report: dict) -> str:
    s = report["settings"]
    emb = s["embedder"]
    gen, ref = report["sets"]["generated"], report["sets"]["reference"]
    fad, inf, kl, clap = report["fad"], report["fad_inf"], report["kl"], report["clap"]
    lines = ["# Evaluation report", "",
             (f"Generated: `{gen['dir']}` ({gen['files']} files, {gen['seconds_total']:.1f} s). "
              f"Reference: `{ref['dir']}` ({ref['files']} files, {ref['seconds_total']:.1f} s)."),
             "", "| metric | value | details |", "|---|---|---|"]
    if fad.get("available"):
        lines.append(f"| FAD ({emb['name']}) | {_fmt(fad)} | N = {fad['n_generated']} generated "
                     f"({fad['vectors_generated']} vectors) vs {fad['n_reference']} reference "
                     f"({fad['vectors_reference']} vectors), seed {fad['seed']} |")
    else:
        lines.append(f"| FAD ({emb['name']}) | not available | {fad.get('reason', '')} |")
    if inf.get("available"):
        pts = ", ".join(f"{n}: {v:.3f}" for n, v in inf["points"])
        lines.append(f"| FAD-inf ({emb['name']}) | {_fmt(inf)} | fit FAD = {inf['value']:.3f} + "
                     f"{inf['slope']:.2f}/N, R² {inf['r2']:.3f}; FAD at N: {pts} |")
    else:
        lines.append(f"| FAD-inf | not available | {inf.get('reason', '')} |")
    if kl.get("available"):
        c = kl["classifier"]
        lines.append(f"| KL ({c['name']}) | {_fmt(kl)} | {kl['pairs']} pairs, {c.get('labels')} "
                     f"labels; KL(gen ‖ ref) {kl['kl_gen_ref']:.3f}; unpaired: "
                     f"{kl['unpaired_generated']} generated, {kl['unpaired_reference']} "
                     f"reference |")
    else:
        lines.append(f"| KL | not available | {kl.get('reason', '')} |")
    if clap.get("available"):
        lines.append(f"| CLAP score | {_fmt(clap)} | {clap['clips']} captioned clips, weights "
                     f"`{clap['weights']}` |")
    else:
        detail = clap.get("details", "").replace("\n", " ")
        lines.append(f"| CLAP score | not available | {clap.get('reason', '')}. {detail} |")
    lines += ["", "What the metrics mean:", ""]
    lines += [f"- **{k}**: {v}" for k, v in METRIC_NOTES.items()]
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    for key, value in emb.items():
        lines.append(f"| embedder {key} | {value} |")
    for key in ("sample_rate", "pooling", "fad_n", "fad_inf_draws", "seed", "classifier"):
        lines.append(f"| {key} | {s[key]} |")
    for what, st in (("generated", gen), ("reference", ref)):
        rates = ", ".join(f"{r} Hz × {c}" for r, c in st["sample_rates"].items())
        lines.append(f"| {what} durations | mean {st['seconds_mean']:.2f} s, min "
                     f"{st['seconds_min']:.2f} s, max {st['seconds_max']:.2f} s; {rates} |")
    if report["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    if report.get("spectrograms"):
        lines += ["", "## Spectrograms", "",
                  ("Log-mel, 0-8 kHz, first 20 s, one colour scale per picture: generated "
                   "(top), reference (bottom)."), ""]
        for item in report["spectrograms"]:
            lines += [f"**{item['generated']}** / {item['reference']}", "",
                      f"![{item['generated']}]({item['image']})", ""]
    return "\n".join(lines) + "\n"


def write_report(report: dict, gen: AudioSet, ref: AudioSet, json_path: str | os.PathLike,
                 spectrograms: int = 4, seed: int = 0) -> tuple[Path, Path]:
    """Write REPORT.json, REPORT.md and REPORT_files/ (pictures); returns both paths."""
    json_path = Path(json_path)
    folder = json_path.with_name(json_path.stem + "_files")
    report["spectrograms"] = draw_pairs(report, gen, ref, folder, spectrograms, seed)
    write_json(json_path, report)
    md_path = json_path.with_suffix(".md")
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown(report))
    return json_path, md_path

"""`audiogen evaluate`: FAD (fixed N and FAD-inf), KL and CLAP score of a generated folder.

    generated/ + reference/ --embedder--> frames --Gaussian fits--> FAD at N, FAD-inf
    pairs by file name      --classifier--> label distributions --> KL(ref || gen)
    generated + captions    --CLAP-------> cosine(audio, text)  --> CLAP score

Every metric that cannot be computed is reported with `"available": false` and the reason
(never a zero). Nothing here is random except seeded subset draws, so the result for the
same inputs and settings is identical run to run.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.eval import fad as fadlib
from audiogen.eval.audio_sets import AudioSet, load_clip, scan
from audiogen.eval.cache import EmbeddingCache
from audiogen.eval.embedders import build_embedder
from audiogen.eval.kl import build_classifier, check_classifier, mean_kl, pair_by_stem


@dataclass
class EvalConfig:
    embedder: str = "aisfx"  # FAD embedder name (audiogen.eval.embedders.EMBEDDERS)
    classifier: str | None = "aisfx"  # KL classifier name; None skips KL
    classifier_weights: str | None = None  # its weights directory, if it needs one
    codec: str | None = None  # codec directory, for the "codec" embedder
    clap: str | None = None  # LAION-CLAP directory (None: the default cache location)
    vggish: str | None = None  # torchvggish weights directory or file, for "vggish(-pca)"
    panns: str | None = None  # PANNs CNN14 checkpoint (or its directory), for "panns"
    passt: str | None = None  # PaSST checkpoint (or its directory), for "passt"
    sample_rate: int | None = 16000  # common evaluation rate (None: keep each file's rate)
    pooling: str = "frames"  # "frames": every embedding frame; "clip": one mean per clip
    fad_n: int | None = None  # generated clips for "FAD at N" (None: all of them)
    fad_inf_draws: int = 3  # seeded subsets averaged per size for FAD-inf
    seed: int = 0  # seed of the subset draws
    spectrograms: int = 4  # generated/reference pairs drawn in the report
    cache: str | None = None  # directory caching per-file embeddings (None: no cache)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def embed_set(embedder: Any, audio_set: AudioSet, cfg: EvalConfig,
              cache: EmbeddingCache | None = None) -> list[np.ndarray]:
    """Per-clip frame embeddings `[F_i, D]`, float64 (from `cache` where it has them)."""
    out = []
    for i, path in enumerate(audio_set.files):
        hit = cache.get(path) if cache is not None else None
        if hit is not None:
            frames, peak = hit
            audio_set.note_peak(i, peak)
        else:
            wav = load_clip(audio_set, i, embedder.sample_rate, cfg.sample_rate)
            frames = embedder.embed(wav).double().numpy()
            if not np.isfinite(frames).all():
                raise AudiogenError(f"{path}: the embedder returned non-finite values.")
            if cache is not None:
                cache.put(path, frames, float(wav.abs().max()))
        out.append(frames)
    return out


def fad_section(ref: list[np.ndarray], gen: list[np.ndarray], cfg: EvalConfig,
                dim: int) -> tuple[dict, dict, list[str]]:
    warnings = []
    if cfg.pooling == "clip":
        ref = [e.mean(axis=0, keepdims=True) for e in ref]
        gen = [e.mean(axis=0, keepdims=True) for e in gen]
    ref_vectors = sum(len(e) for e in ref)
    gen_vectors = sum(len(e) for e in gen)
    if ref_vectors < 2 or gen_vectors < 2:
        reason = "need at least 2 embedding vectors in each set"
        return ({"available": False, "reason": reason}, {"available": False, "reason": reason},
                warnings)
    reference = fadlib.Gaussian.fit(np.concatenate(ref))
    n = cfg.fad_n or len(gen)
    if n > len(gen):
        raise AudiogenError(f"--fad-n {n} is more than the {len(gen)} generated files.")
    fixed_vectors = sum(len(gen[i]) for i in fadlib.subset_order(len(gen), cfg.seed)[:n])
    if fixed_vectors < 2:
        raise AudiogenError(f"FAD at N={n} has only {fixed_vectors} embedding vector(s); "
                            "use a larger --fad-n or --pooling frames.")
    fad = {"available": True, "value": fadlib.fad_at_n(reference, gen, n, cfg.seed),
           "n_generated": n, "n_reference": len(ref),
           "vectors_generated": fixed_vectors, "vectors_reference": ref_vectors,
           "seed": cfg.seed}
    for what, count in (("reference", ref_vectors), ("generated", fixed_vectors)):
        if count <= dim:
            warnings.append(f"the {what} set gives {count} embedding vectors for {dim} dimensions: "
                            "its covariance is rank-deficient and FAD is dominated by estimation "
                            "bias; compare values only at equal N, or use FAD-inf.")
    try:
        inf = fadlib.fad_inf(reference, gen, draws=cfg.fad_inf_draws, seed=cfg.seed)
        fad_inf = {"available": True, "value": inf.value, "slope": inf.slope, "r2": inf.r2,
                   "draws": inf.draws, "points": [[n_, v] for n_, v in inf.points]}
    except ValueError as e:
        fad_inf = {"available": False, "reason": f"{e} (too few generated files)"}
    return fad, fad_inf, warnings


def kl_section(gen: AudioSet, ref: AudioSet, cfg: EvalConfig,
               frames: tuple[str, list[np.ndarray], list[np.ndarray]] | None = None) -> dict:
    """KL over files paired by name.

    `frames` = (embedder name, generated frames, reference frames) from the FAD pass: a
    classifier whose `embedder_name` matches classifies those frames instead of embedding
    every clip again (same numbers, half the time).
    """
    if cfg.classifier is None:
        return {"available": False, "reason": "no classifier chosen (--classifier none)"}
    try:
        pairs, lone_gen, lone_ref = pair_by_stem([str(p) for p in gen.files],
                                                 [str(p) for p in ref.files])
    except AudiogenError as e:  # duplicate names: the other metrics still hold
        return {"available": False, "reason": str(e)}
    if not pairs:
        return {"available": False,
                "reason": "no generated file has a reference file of the same name "
                          "(KL compares pairs of clips matched by file name)"}
    classifier = build_classifier(cfg.classifier, cfg.classifier_weights)
    _log(f"KL: {len(pairs)} pairs, classifier {classifier.name}")
    reuse = frames is not None and getattr(classifier, "embedder_name", None) == frames[0]

    def probs(audio_set: AudioSet, i: int, cached: list[np.ndarray] | None) -> torch.Tensor:
        if reuse and cached is not None:
            return classifier.probabilities_from_frames(torch.from_numpy(cached[i]).float())
        return classifier.probabilities(load_clip(audio_set, i, classifier.sample_rate,
                                                  cfg.sample_rate))

    gen_frames, ref_frames = (frames[1], frames[2]) if frames is not None else (None, None)
    p_gen = [probs(gen, gi, gen_frames) for gi, _ in pairs]
    p_ref = [probs(ref, ri, ref_frames) for _, ri in pairs]
    result = mean_kl(torch.stack(p_ref), torch.stack(p_gen))
    return {"available": True, "value": result["kl_ref_gen"], "kl_gen_ref": result["kl_gen_ref"],
            "pairs": result["pairs"], "unpaired_generated": len(lone_gen),
            "unpaired_reference": len(lone_ref), "classifier": classifier.describe()}


def read_captions(path: str | os.PathLike) -> dict[str, str]:
    """File stem -> caption, from a JSONL manifest (`path` + `captions`/`caption`) or lines of
    `name<TAB>caption`."""
    path = Path(path)
    if not path.is_file():
        raise AudiogenError(f"captions file {path} does not exist.")
    out: dict[str, str] = {}
    for k, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise AudiogenError(f"{path}:{k}: not a JSON line ({e}).") from e
            name = row.get("path") or row.get("name") or row.get("file")
            caption = row.get("caption") or row.get("captions") or row.get("description")
            if isinstance(caption, list):
                caption = caption[0] if caption else None
        elif "\t" in line:
            name, caption = line.split("\t", 1)
        else:
            raise AudiogenError(f"{path}:{k}: expected a JSON object or `name<TAB>caption`.")
        if not name or not caption:
            raise AudiogenError(f"{path}:{k}: a row needs a file name and a caption.")
        out[Path(name).stem] = caption
    return out


def clap_section(gen: AudioSet, captions_file: str | None, cfg: EvalConfig) -> dict:
    from audiogen.eval.clap import Clap, check_clap_dir, clap_score

    if captions_file is None:
        return {"available": False, "reason": "no captions given (--captions FILE)"}
    captions = read_captions(captions_file)
    items = [(i, captions[p.stem]) for i, p in enumerate(gen.files) if p.stem in captions]
    if not items:
        return {"available": False,
                "reason": f"no generated file name matches a caption in {captions_file}"}
    try:
        check_clap_dir(cfg.clap)
    except MissingFilesError as e:
        return {"available": False, "reason": "CLAP weights not found", "details": str(e)}
    clap = Clap(cfg.clap)
    _log(f"CLAP: {len(items)} captioned clips")
    audio = torch.stack([clap.audio_embedding(load_clip(gen, i, clap.sample_rate,
                                                        cfg.sample_rate)) for i, _ in items])
    text = clap.text_embeddings([c for _, c in items])
    scores = clap_score(audio, text)
    return {"available": True, "value": float(scores.mean()), "clips": len(items),
            "uncaptioned": len(gen.files) - len(items), "weights": str(clap.directory)}


def evaluate(generated: str | os.PathLike, reference: str | os.PathLike,
             cfg: EvalConfig, captions: str | None = None) -> tuple[dict, AudioSet, AudioSet]:
    """Run every metric; returns (report dict, generated set, reference set)."""
    if cfg.pooling not in ("frames", "clip"):
        raise AudiogenError(f"--pooling must be 'frames' or 'clip', not {cfg.pooling!r}")
    if cfg.classifier is not None:
        check_classifier(cfg.classifier, cfg.classifier_weights)  # fail before the long part
    gen, ref = scan(generated, "generated"), scan(reference, "reference")
    warnings: list[str] = []
    if set(gen.sample_rates) != set(ref.sample_rates):
        handling = (f"all files were resampled to {cfg.sample_rate} Hz first"
                    if cfg.sample_rate else "files were resampled straight to the model's rate, "
                    "so the sets' bandwidths differ and FAD includes that difference")
        warnings.append(f"the sets have different sample rates (generated "
                        f"{sorted(set(gen.sample_rates))}, reference "
                        f"{sorted(set(ref.sample_rates))} Hz): {handling}.")
    embedder = build_embedder(cfg.embedder, codec=cfg.codec, clap=cfg.clap, vggish=cfg.vggish,
                              panns=cfg.panns, passt=cfg.passt)
    _log(f"FAD: embedding {len(ref.files)} reference and {len(gen.files)} generated files "
         f"with {embedder.name}")
    cache = None
    if cfg.cache:  # the key covers the weights' identity where the embedder reports one
        settings = {**embedder.describe(), "weights": getattr(embedder, "fingerprint", None)}
        cache = EmbeddingCache(cfg.cache, settings, cfg.sample_rate)
    ref_emb = embed_set(embedder, ref, cfg, cache)
    gen_emb = embed_set(embedder, gen, cfg, cache)
    fad, fad_inf, fad_warnings = fad_section(ref_emb, gen_emb, cfg, embedder.dim)
    warnings += fad_warnings
    kl = kl_section(gen, ref, cfg, frames=(embedder.name, gen_emb, ref_emb))
    clap = clap_section(gen, captions, cfg)
    for what, s in (("generated", gen), ("reference", ref)):
        if s.silent:
            warnings.append(f"{len(s.silent)} {what} file(s) are silent (peak below -60 dBFS): "
                            f"{', '.join(s.silent[:5])}{' ...' if len(s.silent) > 5 else ''}")
    report = {
        "format": "audiogen-eval-report", "version": 1,
        "settings": {**asdict(cfg), "embedder": embedder.describe()},
        "sets": {"generated": gen.summary(), "reference": ref.summary()},
        "fad": fad, "fad_inf": fad_inf, "kl": kl, "clap": clap,
        "warnings": warnings,
    }
    return report, gen, ref

"""Training the judge (`audiogen train judge`): embed a labelled corpus once, fit small heads,
pick one on the valid split, measure it on the test split.

    manifest rows --aisfx (cached per file)--> block embeddings [F_i, 512] per clip
    + seeded two-clip mixtures of each split (different labels, summed) --> their embeddings
    train blocks (clips: their label; mixtures: 1/2 + 1/2 of their two labels)
        --> each candidate JudgeConfig, full-batch AdamW, checked every 10 steps on valid
        (clip = mean of its blocks' softmax, as the judge classifies): best step by
        valid top-1 + valid two-event rate (both labels of a mixture in the top 3)
    best candidate --> test: top-1/top-3 on real held-out clips, two-event rate on
        mixtures of two of them --> judge directory

Mixtures teach the head to share probability between two sounds: on the open corpus, both
labels of a mixture of two real test clips were in the top 3 for 22.5% of 200 mixtures when
trained without them (`--mixtures 0`) and 48.5% with one per training clip, for a test
top-1 of 0.873 and 0.867.
Valid and test hold only original clips: speed-changed copies (`variant_of`) are training
augmentation and never measured. Clip embeddings are cached; mixtures are drawn from fixed
seeds and embedded afresh each run (about 0.1-0.2 s each on one CPU thread).
"""

from __future__ import annotations

import copy
import os
import random
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audiogen.data.manifest import ManifestEntry, read_manifest
from audiogen.errors import AudiogenError
from audiogen.eval.judge import Judge, JudgeConfig, JudgeHead, accuracy_report, both_in_top_k

SPLITS = ("train", "valid", "test")
EVAL_EVERY = 10  # full-batch steps between valid checks
EVAL_MIXTURES = 200  # two-clip mixtures drawn from each of valid and test
MIX_SEEDS = {"train": 1, "valid": 2, "test": 3}  # seeds of the mixtures drawn per split
STD_FLOOR = 0.05  # of the mean feature std: floors the std of near-constant features, so a
#                   dimension (almost) constant in training cannot explode on new audio


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class SplitFeatures:
    blocks: torch.Tensor  # [B, D] block embeddings of all clips of the split
    clip_of_block: torch.Tensor  # [B] index of the clip each block belongs to
    targets: torch.Tensor  # [N] label index per clip, or [N, 2] the two labels of a mixture

    @classmethod
    def from_frames(cls, frames: list[torch.Tensor], targets: torch.Tensor) -> SplitFeatures:
        """Per-clip block embeddings `[F_i, D]` and clip labels `[N]` or `[N, 2]`."""
        clip = torch.cat([torch.full((len(f),), i) for i, f in enumerate(frames)])
        return cls(torch.cat(frames).float(), clip, targets)

    @classmethod
    def concat(cls, parts: list[SplitFeatures]) -> SplitFeatures:
        """One set of the clips of `parts` (all single clips, or all mixtures)."""
        offsets = [0]
        for part in parts[:-1]:
            offsets.append(offsets[-1] + len(part.targets))
        return cls(torch.cat([p.blocks for p in parts]),
                   torch.cat([p.clip_of_block + o for p, o in zip(parts, offsets)]),
                   torch.cat([p.targets for p in parts]))

    def clip_probabilities(self, head: JudgeHead) -> torch.Tensor:
        """Each clip's mean over its blocks of the head's softmax -> `[N, L]`."""
        probs = torch.softmax(head(self.blocks), dim=-1)
        total = torch.zeros(len(self.targets), probs.shape[1]).index_add_(0, self.clip_of_block,
                                                                           probs)
        return total / torch.bincount(self.clip_of_block, minlength=len(self.targets))[:, None]

    def soft_targets(self, n_labels: int) -> torch.Tensor:
        """Target distributions `[N, L]`: one-hot, or 1/2 on each label of a mixture."""
        if self.targets.dim() == 1:
            return F.one_hot(self.targets, n_labels).float()
        return F.one_hot(self.targets, n_labels).float().mean(dim=1)


def selection_grid() -> list[JudgeConfig]:
    """The candidate heads compared on valid: linear (with and without dropout) and
    1-hidden-layer MLPs. On the open corpus they reach 0.87-0.93 valid top-1; weight decay
    and class balancing changed it by under one clip in 147 and are left out."""
    return [JudgeConfig(hidden=0, dropout=0.0), JudgeConfig(hidden=0, dropout=0.5),
            JudgeConfig(hidden=128, dropout=0.5), JudgeConfig(hidden=256, dropout=0.5)]


def corpus_splits(entries: list[ManifestEntry]) -> tuple[list[str], dict[str, list[ManifestEntry]]]:
    """(sorted label names, split -> rows); speed copies are kept only in train.

    Labels are those of the train split; valid/test rows of other labels are an error, since
    the judge could never be right on them.
    """
    splits: dict[str, list[ManifestEntry]] = {s: [] for s in SPLITS}
    for e in entries:
        if not e.label:
            raise AudiogenError(f"{e.path}: manifest row without a label; the judge needs one "
                                "per clip (build the corpus with `audiogen data build-open-corpus`)")
        if e.split in splits and (e.split == "train" or "variant_of" not in e.extra):
            splits[e.split].append(e)
    empty = [s for s in SPLITS if not splits[s]]
    if empty:
        raise AudiogenError(f"the manifest has no clips in split(s) {empty}; the judge trains on "
                            "train, picks on valid and is measured on test")
    labels = sorted({e.label for e in splits["train"]})
    stray = sorted({e.label for s in ("valid", "test") for e in splits[s]} - set(labels))
    if stray:
        raise AudiogenError(f"labels {stray} occur in valid/test but not in train")
    return labels, splits


def embed_entries(entries: list[ManifestEntry], embedder: Any, cache_dir: str | None,
                  eval_rate: int = 16000, log: Callable[[str], None] = _log) -> list[np.ndarray]:
    """Frame embeddings `[F_i, D]` of each row's audio, through `audiogen evaluate`'s loading
    (mono, via `eval_rate`) and its embedding cache, so both share cached files."""
    from audiogen.eval.audio_sets import AudioSet
    from audiogen.eval.cache import EmbeddingCache
    from audiogen.eval.pipeline import EvalConfig, embed_set

    cfg = EvalConfig(sample_rate=eval_rate)
    cache = None
    if cache_dir:  # same key settings as `audiogen evaluate --cache`
        settings = {**embedder.describe(), "weights": getattr(embedder, "fingerprint", None)}
        cache = EmbeddingCache(cache_dir, settings, eval_rate)
    out: list[np.ndarray] = []
    chunk = 100
    for start in range(0, len(entries), chunk):
        part = entries[start:start + chunk]
        files = [Path(e.path) for e in part]
        audio_set = AudioSet(Path(os.path.commonpath([str(f.parent) for f in files])), files,
                             [e.duration for e in part], [e.sample_rate for e in part])
        out += embed_set(embedder, audio_set, cfg, cache)
        log(f"embedded {start + len(part)}/{len(entries)} clips")
    return out


def split_features(entries: list[ManifestEntry], frames: list[np.ndarray],
                   labels: list[str]) -> SplitFeatures:
    index = {label: i for i, label in enumerate(labels)}
    return SplitFeatures.from_frames([torch.from_numpy(f) for f in frames],
                                     torch.tensor([index[e.label] for e in entries]))


def draw_pairs(entries: list[ManifestEntry], n: int, seed: int) -> list[tuple[int, int, float]]:
    """`n` seeded (i, j, offset) triples: two clips of different labels and where the shorter
    one starts inside the longer one (a fraction of the free length)."""
    if len({e.label for e in entries}) < 2:
        return []
    rng = random.Random(seed)
    pairs: list[tuple[int, int, float]] = []
    while len(pairs) < n:
        i, j = rng.sample(range(len(entries)), 2)
        if entries[i].label != entries[j].label:
            pairs.append((i, j, rng.random()))
    return pairs


def mix(a: torch.Tensor, b: torch.Tensor, offset: float) -> torch.Tensor:
    """Add the shorter of `a`, `b` (`[1, T]` each) into the longer at `offset` of the free length.

    Corpus clips share one loudness (-20 dBFS RMS), so a plain sum has both events at the
    same level, as "X while Y" asks for."""
    a, b = (a, b) if a.shape[1] >= b.shape[1] else (b, a)
    start = int(offset * (a.shape[1] - b.shape[1]))
    out = a.clone()
    out[:, start:start + b.shape[1]] += b
    return out


def embed_waves(make: Callable[[int], torch.Tensor], n: int, embedder: Any, what: str,
                eval_rate: int = 16000, log: Callable[[str], None] = _log) -> list[np.ndarray]:
    """Frame embeddings of `n` clips `make(k)` (`[1, T]` at `eval_rate`; not cached: mixtures
    and codec reconstructions are made afresh each run)."""
    from audiogen.audio.io import resample

    out = []
    for k in range(n):
        wav = resample(make(k), eval_rate, embedder.sample_rate)
        out.append(embedder.embed(wav).double().numpy())
        if (k + 1) % 100 == 0 or k + 1 == n:
            log(f"embedded {k + 1}/{n} {what}")
    return out


def clip_loader(entries: list[ManifestEntry], eval_rate: int = 16000
                ) -> Callable[[int], torch.Tensor]:
    """`load(k)`: row k's audio `[1, T]` at `eval_rate`, read once."""
    from audiogen.audio.io import load_audio

    loaded: dict[int, torch.Tensor] = {}

    def load(k: int) -> torch.Tensor:
        if k not in loaded:
            loaded[k] = load_audio(entries[k].path, sample_rate=eval_rate, channels=1)[0]
        return loaded[k]
    return load


def codec_roundtrip(codec: Any, eval_rate: int = 16000) -> Callable[[torch.Tensor], torch.Tensor]:
    """`wav [1, T]` at `eval_rate` -> the codec's reconstruction, same rate and length."""
    from audiogen.audio.io import resample

    @torch.inference_mode()
    def roundtrip(wav: torch.Tensor) -> torch.Tensor:
        x = resample(wav, eval_rate, codec.sample_rate)[None]
        y = codec.decode(codec.encode(x))[0, :, : x.shape[-1]]
        return resample(y, codec.sample_rate, eval_rate)
    return roundtrip


def embed_mixtures(entries: list[ManifestEntry], pairs: list[tuple[int, int, float]],
                   embedder: Any, eval_rate: int = 16000,
                   transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                   log: Callable[[str], None] = _log) -> list[np.ndarray]:
    """Frame embeddings of two-clip mixtures made at `eval_rate` (then `transform`ed)."""
    clip = clip_loader(entries, eval_rate)

    def make(k: int) -> torch.Tensor:
        i, j, offset = pairs[k]
        wav = mix(clip(i), clip(j), offset)
        return transform(wav) if transform is not None else wav
    return embed_waves(make, len(pairs), embedder, "mixtures", eval_rate, log)


@torch.no_grad()
def valid_scores(head: JudgeHead, valid: SplitFeatures,
                 valid_mix: SplitFeatures | None) -> dict[str, float]:
    """Top-1 and loss on single clips; two-event rate (both in the top 3) on mixtures."""
    head.eval()
    probs = valid.clip_probabilities(head)
    out = {"valid_top1": float((probs.argmax(dim=1) == valid.targets).float().mean()),
           "valid_loss": float(F.nll_loss(probs.clamp_min(1e-12).log(), valid.targets))}
    if valid_mix is not None:
        both = both_in_top_k(valid_mix.clip_probabilities(head), valid_mix.targets, 3)
        out["valid_two_event"] = float(both.float().mean())
    return out


def _key(score: dict[str, float]) -> tuple[float, float]:
    """Selection key: top-1 plus two-event rate, then lower loss."""
    return (score["valid_top1"] + score.get("valid_two_event", 0.0), -score["valid_loss"])


def fit_head(train: list[SplitFeatures], valid: SplitFeatures, valid_mix: SplitFeatures | None,
             n_labels: int, config: JudgeConfig) -> tuple[JudgeHead, dict[str, float]]:
    """Train one head full-batch on the blocks of `train` (clips and mixtures); return it at
    its best valid step, with that step's scores."""
    torch.manual_seed(config.seed)
    blocks = torch.cat([part.blocks for part in train])
    block_targets = torch.cat([part.soft_targets(n_labels)[part.clip_of_block]
                               for part in train])  # [B, L]
    head = JudgeHead(blocks.shape[1], n_labels, config.hidden, config.dropout)
    std = blocks.std(dim=0)
    head.feature_mean.copy_(blocks.mean(dim=0))
    head.feature_std.copy_(std.clamp_min(STD_FLOOR * float(std.mean())))
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    best: dict[str, float] | None = None
    best_state, best_step = copy.deepcopy(head.state_dict()), 0
    for step in range(1, config.epochs + 1):
        head.train()
        loss = F.cross_entropy(head(blocks), block_targets)
        if not torch.isfinite(loss):
            raise AudiogenError(f"judge training diverged at step {step} (loss {loss})")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % EVAL_EVERY == 0 or step == config.epochs:
            score = valid_scores(head, valid, valid_mix)
            if best is None or _key(score) > _key(best):
                best, best_state, best_step = score, copy.deepcopy(head.state_dict()), step
            elif step - best_step >= config.patience:
                break
    head.load_state_dict(best_state)
    assert best is not None
    return head.eval(), {**best, "step": best_step}


def select_head(train: list[SplitFeatures], valid: SplitFeatures,
                valid_mix: SplitFeatures | None, n_labels: int, grid: list[JudgeConfig],
                log: Callable[[str], None] = _log
                ) -> tuple[JudgeHead, JudgeConfig, list[dict[str, Any]]]:
    """Fit every candidate; the best valid top-1 + two-event rate wins (ties: lower loss)."""
    results = []
    best = None
    for config in grid:
        head, score = fit_head(train, valid, valid_mix, n_labels, config)
        results.append({"config": asdict(config), **score})
        log(f"  hidden={config.hidden} dropout={config.dropout}: valid top-1 "
            f"{score['valid_top1']:.3f}, two-event {score.get('valid_two_event', float('nan')):.3f}"
            f", loss {score['valid_loss']:.3f} (step {score['step']})")
        if best is None or _key(score) > best[0]:
            best = (_key(score), head, config, score["step"])
    assert best is not None, "empty selection grid"
    _, head, config, step = best
    return head, replace(config, epochs=step), results


def mixture_features(entries: list[ManifestEntry], n: int, seed: int, labels: list[str],
                     embedder: Any, transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     log: Callable[[str], None] = _log) -> SplitFeatures | None:
    """`n` seeded two-label mixtures of `entries`, embedded, targets `[n, 2]` (None if n = 0)."""
    pairs = draw_pairs(entries, n, seed)
    if not pairs:
        return None
    index = {label: i for i, label in enumerate(labels)}
    frames = embed_mixtures(entries, pairs, embedder, transform=transform, log=log)
    targets = torch.tensor([[index[entries[i].label], index[entries[j].label]]
                            for i, j, _ in pairs])
    return SplitFeatures.from_frames([torch.from_numpy(f) for f in frames], targets)


def reconstruction_features(entries: list[ManifestEntry], labels: list[str], embedder: Any,
                            roundtrip: Callable[[torch.Tensor], torch.Tensor],
                            log: Callable[[str], None] = _log) -> SplitFeatures:
    """The rows' audio through the codec, embedded, with the rows' labels."""
    clip = clip_loader(entries)
    frames = embed_waves(lambda k: roundtrip(clip(k)), len(entries), embedder,
                         "codec reconstructions", log=log)
    return split_features(entries, frames, labels)


def train_judge(manifest: str | os.PathLike, cache_dir: str | None,
                grid: list[JudgeConfig] | None = None, embedder: Any = None,
                mixtures: float = 1.0, eval_mixtures: int = EVAL_MIXTURES, codec: Any = None,
                log: Callable[[str], None] = _log) -> Judge:
    """Embed the corpus, select a head on valid, measure it on test; return the judge.

    `mixtures`: training mixtures per training clip; `eval_mixtures`: mixtures drawn from each
    of valid and test (0: select and measure on single clips only). `codec`: a `Codec` whose
    reconstructions of every clip and mixture are added to each split, so the judge also knows
    the sounds through that codec (what it will score: generations are codec output); test
    then reports real and reconstructed audio apart. The stored config's `epochs` is the
    winning step, so retraining with that config alone reproduces the same head.
    """
    from audiogen.eval.embedders import build_embedder

    grid = grid or selection_grid()
    embedder = embedder or build_embedder(grid[0].embedder)
    labels, splits = corpus_splits(read_manifest(manifest))
    log(f"judge: {len(labels)} labels; clips train {len(splits['train'])}, valid "
        f"{len(splits['valid'])}, test {len(splits['test'])}")
    data = {s: split_features(rows, embed_entries(rows, embedder, cache_dir, log=log), labels)
            for s, rows in splits.items()}
    counts = {"train": round(mixtures * len(splits["train"])), "valid": eval_mixtures,
              "test": eval_mixtures}
    mixed = {s: mixture_features(rows, counts[s], MIX_SEEDS[s], labels, embedder, log=log)
             for s, rows in splits.items()}
    coded: dict[str, SplitFeatures] = {}
    coded_mixed: dict[str, SplitFeatures | None] = {}
    if codec is not None:
        roundtrip = codec_roundtrip(codec)
        coded = {s: reconstruction_features(rows, labels, embedder, roundtrip, log)
                 for s, rows in splits.items()}
        coded_mixed = {s: mixture_features(rows, counts[s], MIX_SEEDS[s], labels, embedder,
                                           roundtrip, log) for s, rows in splits.items()}

    def joined(s: str, singles: bool) -> SplitFeatures | None:
        parts = [data[s], coded.get(s)] if singles else [mixed[s], coded_mixed.get(s)]
        parts = [p for p in parts if p is not None]
        return SplitFeatures.concat(parts) if parts else None

    log(f"selecting among {len(grid)} heads on valid:")
    train = [p for p in (joined("train", True), joined("train", False)) if p is not None]
    head, config, candidates = select_head(train, joined("valid", True),
                                           joined("valid", False), len(labels), grid, log)
    accuracy: dict[str, Any] = {}
    with torch.no_grad():
        for s in ("valid", "test"):
            for name, singles, mixes in ((s, data[s], mixed[s]),
                                         (f"{s}_codec", coded.get(s), coded_mixed.get(s))):
                if singles is not None:
                    accuracy[name] = accuracy_report(singles.clip_probabilities(head),
                                                     singles.targets, labels)
                if mixes is not None:
                    probs = mixes.clip_probabilities(head)
                    accuracy[f"{name}_mixtures"] = {
                        "n": len(mixes.targets),
                        **{f"both_top{k}": round(float(both_in_top_k(probs, mixes.targets, k)
                                                       .float().mean()), 4) for k in (2, 3)}}
    trained_on = {"manifest": str(manifest),
                  "clips": {s: len(rows) for s, rows in splits.items()},
                  "speed_copies_in_train": sum("variant_of" in e.extra for e in splits["train"]),
                  "mixtures": {s: len(m.targets) if m is not None else 0
                               for s, m in mixed.items()},
                  "mixture_seeds": MIX_SEEDS, "selection": candidates}
    if codec is not None:
        trained_on["codec_reconstructions"] = {
            "bitrate_kbps": round(codec.bitrate / 1000, 3),
            "note": "every clip and mixture of each split also through the codec"}
    return Judge(head, labels, config, embedder.describe(), accuracy, trained_on,
                 embedder=embedder)

"""Training the judge (`audiogen train judge`): embed a labelled corpus once, fit small heads,
pick one on the valid split, measure it on the test split.

    manifest rows --aisfx (cached per file)--> block embeddings [F_i, 512] per clip
    train blocks (speed copies included; each block labelled with its clip's label)
        --> each candidate JudgeConfig, full-batch AdamW, checked every 10 steps on valid
        clips (mean of block softmax, as the judge classifies), best step by valid top-1
        (ties: lower valid loss)
    best candidate --> accuracy on test (real held-out clips) --> judge directory

Valid and test hold only original clips: speed-changed copies (`variant_of`) are training
augmentation and never measured. The head is small (a linear layer or one hidden layer), so
the selection grid takes about a minute on one CPU thread once the corpus is embedded.
"""

from __future__ import annotations

import copy
import os
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
from audiogen.eval.judge import Judge, JudgeConfig, JudgeHead, accuracy_report

SPLITS = ("train", "valid", "test")
EVAL_EVERY = 10  # full-batch steps between valid checks
STD_FLOOR = 0.05  # of the mean feature std: floors the std of near-constant features, so a
#                   dimension (almost) constant in training cannot explode on new audio


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class SplitFeatures:
    blocks: torch.Tensor  # [B, D] block embeddings of all clips of the split
    clip_of_block: torch.Tensor  # [B] index of the clip each block belongs to
    targets: torch.Tensor  # [N] label index per clip

    @classmethod
    def from_frames(cls, frames: list[torch.Tensor], targets: torch.Tensor) -> SplitFeatures:
        """Per-clip block embeddings `[F_i, D]` and clip labels `[N]`."""
        clip = torch.cat([torch.full((len(f),), i) for i, f in enumerate(frames)])
        return cls(torch.cat(frames).float(), clip, targets)

    def clip_probabilities(self, head: JudgeHead) -> torch.Tensor:
        """Each clip's mean over its blocks of the head's softmax -> `[N, L]`."""
        probs = torch.softmax(head(self.blocks), dim=-1)
        total = torch.zeros(len(self.targets), probs.shape[1]).index_add_(0, self.clip_of_block,
                                                                           probs)
        return total / torch.bincount(self.clip_of_block, minlength=len(self.targets))[:, None]


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


def fit_head(train: SplitFeatures, valid: SplitFeatures, n_labels: int,
             config: JudgeConfig) -> tuple[JudgeHead, dict[str, float]]:
    """Train one head full-batch; return it at its best valid step, with that step's scores."""
    torch.manual_seed(config.seed)
    head = JudgeHead(train.blocks.shape[1], n_labels, config.hidden, config.dropout)
    std = train.blocks.std(dim=0)
    head.feature_mean.copy_(train.blocks.mean(dim=0))
    head.feature_std.copy_(std.clamp_min(STD_FLOOR * float(std.mean())))
    block_targets = train.targets[train.clip_of_block]
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    best: tuple[float, float] = (-1.0, float("inf"))
    best_state, best_step = copy.deepcopy(head.state_dict()), 0
    for step in range(1, config.epochs + 1):
        head.train()
        loss = F.cross_entropy(head(train.blocks), block_targets)
        if not torch.isfinite(loss):
            raise AudiogenError(f"judge training diverged at step {step} (loss {loss})")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % EVAL_EVERY == 0 or step == config.epochs:
            head.eval()
            with torch.no_grad():
                probs = valid.clip_probabilities(head)
            top1 = float((probs.argmax(dim=1) == valid.targets).float().mean())
            valid_loss = float(F.nll_loss(probs.clamp_min(1e-12).log(), valid.targets))
            if (top1, -valid_loss) > (best[0], -best[1]):
                best, best_state, best_step = (top1, valid_loss), copy.deepcopy(
                    head.state_dict()), step
            elif step - best_step >= config.patience:
                break
    head.load_state_dict(best_state)
    return head.eval(), {"valid_top1": best[0], "valid_loss": best[1], "step": best_step}


def select_head(train: SplitFeatures, valid: SplitFeatures, n_labels: int,
                grid: list[JudgeConfig], log: Callable[[str], None] = _log
                ) -> tuple[JudgeHead, JudgeConfig, list[dict[str, Any]]]:
    """Fit every candidate; the best valid top-1 wins (ties: lower valid loss)."""
    results = []
    best = None
    for config in grid:
        head, score = fit_head(train, valid, n_labels, config)
        results.append({"config": asdict(config), **score})
        log(f"  hidden={config.hidden} dropout={config.dropout}: valid top-1 "
            f"{score['valid_top1']:.3f} "
            f"loss {score['valid_loss']:.3f} (step {score['step']})")
        key = (score["valid_top1"], -score["valid_loss"])
        if best is None or key > best[0]:
            best = (key, head, config, score["step"])
    assert best is not None, "empty selection grid"
    _, head, config, step = best
    return head, replace(config, epochs=step), results


def train_judge(manifest: str | os.PathLike, cache_dir: str | None,
                grid: list[JudgeConfig] | None = None, embedder: Any = None,
                log: Callable[[str], None] = _log) -> Judge:
    """Embed the corpus, select a head on valid, measure it on test; return the judge.

    The stored config's `epochs` is the winning step, so retraining it with that config alone
    reproduces the same head (same seed, same features).
    """
    from audiogen.eval.embedders import build_embedder

    grid = grid or selection_grid()
    embedder = embedder or build_embedder(grid[0].embedder)
    labels, splits = corpus_splits(read_manifest(manifest))
    log(f"judge: {len(labels)} labels; clips train {len(splits['train'])}, valid "
        f"{len(splits['valid'])}, test {len(splits['test'])}")
    data = {s: split_features(rows, embed_entries(rows, embedder, cache_dir, log=log), labels)
            for s, rows in splits.items()}
    log(f"selecting among {len(grid)} heads on valid:")
    head, config, candidates = select_head(data["train"], data["valid"], len(labels), grid, log)
    with torch.no_grad():
        accuracy = {s: accuracy_report(data[s].clip_probabilities(head), data[s].targets,
                                       labels) for s in ("valid", "test")}
    trained_on = {"manifest": str(manifest),
                  "clips": {s: len(rows) for s, rows in splits.items()},
                  "speed_copies_in_train": sum("variant_of" in e.extra for e in splits["train"]),
                  "selection": candidates}
    return Judge(head, labels, config, embedder.describe(), accuracy, trained_on,
                 embedder=embedder)

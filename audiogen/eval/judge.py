"""The judge: a small classifier of the open corpus's labels on frozen aisfx embeddings.

It scores generations ("does this sound like the prompt?") and serves as a KL classifier
(`audiogen evaluate --classifier judge --classifier-weights DIR`):

    wav [C, T] --aisfx--> block embeddings [F, 512] (2.3 s blocks, hop 1.16 s)
        --standardise (train-set mean/std)--> linear or 1-hidden-layer MLP --softmax--> [F, L]
        --mean over blocks--> [L]

Each block is classified on its own and the clip's distribution is the mean over its blocks,
so a 5 s generation (3 blocks) is judged like the 1-3 block clips of the corpus, and a sound
present in only part of a clip still gets probability (what the two-event score needs).

Only the head is trained (`audiogen train judge`, see `judge_train.py`); the embedding network
stays the pretrained aisfx CNN. A judge directory holds

    judge.json          {"format": "audiogen-judge", "version": 1, "labels": [...],
                         "embedder": {...}, "config": {...JudgeConfig...}, "accuracy": {...}}
    judge.safetensors   the head's weights and the feature mean/std

`judge_agreement` turns its outputs on generations of a fixed prompt list into the model
card's two numbers: single-event accuracy and the two-event both-found rate.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiogen.errors import AudiogenError
from audiogen.model_dir import ModelFiles, require

FILES = ModelFiles("judge", "audiogen-judge", 1, "judge",
                   "Train one with `audiogen train judge --corpus corpus/manifest.jsonl -o DIR`.")


def default_judge_dir() -> Path:
    """The judge shipped with the package (trained on the open corpus)."""
    return Path(__file__).resolve().parent.parent / "assets" / "judge"


@dataclass
class JudgeConfig:
    embedder: str = "aisfx"  # frozen embedder (audiogen.eval.embedders.EMBEDDERS)
    hidden: int = 0  # hidden units of the MLP; 0 = a linear (logistic regression) head
    dropout: float = 0.0  # dropout on the standardised features and the hidden layer
    weight_decay: float = 1e-3  # AdamW decoupled weight decay
    lr: float = 1e-3  # AdamW learning rate (full-batch steps)
    epochs: int = 400  # full-batch steps at most; the best one on valid is kept
    patience: int = 100  # stop after this many steps without a better valid score
    seed: int = 0  # weight initialisation and dropout


class JudgeHead(nn.Module):
    """Block embeddings `[B, D]` -> label logits `[B, L]` (standardised inside)."""

    def __init__(self, in_dim: int, n_labels: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        # train-set statistics: the head sees zero-mean, unit-variance features
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_std", torch.ones(in_dim))
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden > 0:
            layers += [nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                       nn.Linear(hidden, n_labels)]
        else:
            layers += [nn.Linear(in_dim, n_labels)]
        self.net = nn.Sequential(*layers)

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        return self.net((blocks - self.feature_mean) / self.feature_std)


class Judge:
    """A trained judge; follows the `Classifier` protocol of `audiogen.eval.kl`."""

    name = "judge"

    def __init__(self, head: JudgeHead, labels: list[str], config: JudgeConfig,
                 embedder_info: dict[str, Any], accuracy: dict[str, Any] | None = None,
                 trained_on: dict[str, Any] | None = None, embedder: Any = None):
        if head.net[-1].out_features != len(labels):
            raise AudiogenError(f"the judge head has {head.net[-1].out_features} outputs for "
                                f"{len(labels)} labels")
        self.head = head.eval()
        self.labels = list(labels)
        self.config = config
        self.embedder_info = embedder_info  # the embedder's describe() at training time
        self.embedder_name = config.embedder  # pipeline.kl_section reuses that embedder's frames
        self.sample_rate = int(embedder_info["sample_rate"])  # Hz the input must be at
        self.accuracy = accuracy or {}  # measured accuracies (valid, test) stored with it
        self.trained_on = trained_on or {}  # corpus, clip counts, command
        self._embedder = embedder

    @property
    def embedder(self) -> Any:
        """The frozen embedder, built on first use (loading aisfx takes a moment)."""
        if self._embedder is None:
            from audiogen.eval.embedders import build_embedder

            self._embedder = build_embedder(self.embedder_name)
        return self._embedder

    @torch.no_grad()
    def probabilities_from_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Block embeddings `[F, D]` of one clip -> probabilities `[L]` (mean over blocks)."""
        if frames.dim() != 2 or frames.shape[0] < 1:
            raise ValueError(f"expected frame embeddings [F >= 1, D], got {tuple(frames.shape)}")
        return torch.softmax(self.head(frames.float()), dim=-1).mean(dim=0)

    def probabilities(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at `sample_rate` -> probabilities `[L]` summing to 1."""
        return self.probabilities_from_frames(self.embedder.embed(wav))

    def describe(self) -> dict[str, Any]:
        test = self.accuracy.get("test", {})
        return {"name": self.name, "labels": len(self.labels), "embedder": self.embedder_name,
                "head": f"mlp {self.config.hidden}" if self.config.hidden else "linear",
                "test_top1": test.get("top1"), "test_clips": test.get("n")}

    # ----------------------------------------------------------------------- files
    def save(self, directory: str | os.PathLike) -> Path:
        """Write judge.safetensors, then judge.json (see audiogen.model_dir)."""
        FILES.save(directory, self.head.state_dict(), {
            "labels": self.labels, "embedder": self.embedder_info, "config": asdict(self.config),
            "in_dim": int(self.head.feature_mean.numel()),
            "accuracy": self.accuracy, "trained_on": self.trained_on})
        return Path(directory)

    @classmethod
    def from_path(cls, directory: str | os.PathLike) -> Judge:
        """Load a judge directory (strict: every weight must match the config)."""
        meta = FILES.read_meta(directory)
        config = FILES.config(directory, meta, JudgeConfig)
        path = Path(directory) / FILES.config_file
        labels = require(meta, "labels", list[str], path)
        in_dim = require(meta, "in_dim", int, path)
        embedder = require(meta, "embedder", dict[str, Any], path)
        require(embedder, "sample_rate", int, path)
        state = FILES.read_weights(directory)

        def make() -> Judge:
            head = JudgeHead(in_dim, len(labels), config.hidden, config.dropout)
            head.load_state_dict(state, strict=True)
            return cls(head, labels, config, embedder, meta.get("accuracy"),
                       meta.get("trained_on"))

        return FILES.build(directory, make)

    @classmethod
    def default(cls) -> Judge:
        """The judge shipped in `audiogen/assets/judge`."""
        return cls.from_path(default_judge_dir())


# --------------------------------------------------------------------------- scores
def accuracy_report(probs: torch.Tensor, targets: torch.Tensor,
                    labels: list[str]) -> dict[str, Any]:
    """Top-1/top-3 accuracy, per-class top-1 and the commonest confusions.

    `probs [N, L]` (or logits), `targets [N]` label indices.
    """
    n = int(targets.numel())
    if n == 0:
        raise AudiogenError("no clips to measure accuracy on")
    top = probs.topk(min(3, probs.shape[1]), dim=1).indices  # [N, 3]
    hit1 = top[:, 0] == targets
    hit3 = (top == targets[:, None]).any(dim=1)
    per_class = {}
    for i, label in enumerate(labels):
        mask = targets == i
        if mask.any():
            per_class[label] = {"n": int(mask.sum()), "top1": round(float(hit1[mask].float()
                                                                          .mean()), 4)}
    pairs: dict[tuple[str, str], int] = {}
    for t, p in zip(targets[~hit1].tolist(), top[~hit1, 0].tolist()):
        pairs[(labels[t], labels[p])] = pairs.get((labels[t], labels[p]), 0) + 1
    confusions = [{"true": t, "predicted": p, "count": c}
                  for (t, p), c in sorted(pairs.items(), key=lambda kv: -kv[1])[:10]]
    return {"n": n, "top1": round(float(hit1.float().mean()), 4),
            "top3": round(float(hit3.float().mean()), 4),
            "per_class": per_class, "confusions": confusions}


def both_in_top_k(probs: torch.Tensor, pairs: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Whether both labels of each pair are among the top `k`: `probs [N, L]`, `pairs [N, 2]`
    label indices -> `[N]` bool. The two-event score of `agreement_from_probabilities`."""
    top = probs.topk(min(k, probs.shape[1]), dim=1).indices  # [N, k]
    return (top[:, :, None] == pairs[:, None, :]).any(dim=1).all(dim=1)


def agreement_from_probabilities(probs: torch.Tensor, labels: list[str],
                                 prompt_labels: list[list[str]], k: int = 3) -> dict[str, Any]:
    """Agreement of the judge with the prompts, from its outputs `probs [N, L]`.

    `prompt_labels[i]` names the one or two corpus labels that prompt i asks for.
    - single-event prompt (one label): agrees when that label is the judge's top-1;
    - two-event prompt (two labels): both found when both labels are among the judge's
      top-`k` (k = 3: the top two plus one slack place, since a mix often scores a third,
      acoustically close label between its two parts).
    """
    if probs.shape[0] != len(prompt_labels):
        raise AudiogenError(f"{probs.shape[0]} clips for {len(prompt_labels)} prompts")
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({x for p in prompt_labels for x in p if x not in index})
    if unknown:
        raise AudiogenError(f"prompt labels not known to the judge: {unknown}; it knows {labels}")
    top = probs.topk(min(k, probs.shape[1]), dim=1).indices.tolist()
    single, double, per_prompt = [], [], []
    for i, wanted in enumerate(prompt_labels):
        if len(wanted) not in (1, 2):
            raise AudiogenError(f"prompt {i} names {len(wanted)} labels; give one or two")
        if len(wanted) == 1:
            ok = top[i][0] == index[wanted[0]]
            single.append(ok)
        else:
            ok = bool(both_in_top_k(probs[i:i + 1], torch.tensor([[index[w] for w in wanted]]),
                                    k)[0])
            double.append(ok)
        per_prompt.append({"labels": wanted, "top": [labels[j] for j in top[i]], "agrees": ok})

    def rate(hits: list[bool]) -> float | None:
        return round(sum(hits) / len(hits), 4) if hits else None

    return {"single_event": {"n": len(single), "accuracy": rate(single)},
            "two_event": {"n": len(double), "both_found_rate": rate(double), "top_k": k},
            "per_prompt": per_prompt}


def judge_agreement(judge: Judge, wavs: list[torch.Tensor], prompt_labels: list[list[str]],
                    sample_rate: int = 16000, k: int = 3) -> dict[str, Any]:
    """Score generations: `wavs[i]` (`[C, T]` at `sample_rate`) was generated for a prompt
    naming the labels `prompt_labels[i]`. See `agreement_from_probabilities`."""
    from audiogen.audio.io import resample

    if len(wavs) != len(prompt_labels):
        raise AudiogenError(f"{len(wavs)} clips for {len(prompt_labels)} prompts")
    probs = torch.stack([judge.probabilities(resample(w.mean(dim=0, keepdim=True), sample_rate,
                                                      judge.sample_rate)) for w in wavs])
    return agreement_from_probabilities(probs, judge.labels, prompt_labels, k)

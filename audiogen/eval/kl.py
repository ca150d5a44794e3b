"""KL divergence between a classifier's label distributions on paired clips.

For each generated clip paired with a reference clip (same file stem), a classifier gives a
distribution over its labels for both; the metric is the mean over pairs of

    KL(reference || generated) = sum_l p_ref(l) log(p_ref(l) / p_gen(l))

(low: the classifier hears the same kinds of sound in both). Both distributions are smoothed
by `eps` and renormalised first, so a label the generated clip misses costs log(1/eps) at
most and KL stays >= 0, exactly 0 for identical distributions. The AudioGen paper uses PaSST
(527 AudioSet labels, softmax, averaged over 10 s windows); any `Classifier` fits here.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import torch

from audiogen.errors import AudiogenError


class Classifier(Protocol):
    """An audio classifier that yields a probability distribution over labels.

    The project's judge (trained on the open corpus) implements this and adds a line to
    `CLASSIFIERS`.
    """

    name: str
    sample_rate: int  # Hz the input must be at
    labels: list[str]  # the L label names (generic names where the weights carry none)

    def probabilities(self, wav: torch.Tensor) -> torch.Tensor:
        """`wav [C, T]` at `sample_rate` -> probabilities `[L]` summing to 1."""
        ...

    def describe(self) -> dict[str, Any]:
        ...


# name -> (module, class, whether it loads from a weights directory). The one table of
# classifier names; a class that needs weights has `from_path(directory)`.
CLASSIFIERS: dict[str, tuple[str, str, bool]] = {
    "aisfx": ("audiogen.eval.embedders.aisfx", "AisfxClassifier", False),
    "judge": ("audiogen.eval.judge", "Judge", True),  # shipped: audiogen/assets/judge
    # the paper's KL classifier: the released passt-s-f128-p16-s10-ap.476-swa.pt or its folder
    "passt": ("audiogen.eval.passt", "Passt", True),
}

# name -> description, for classifiers that are known but not ported (none at present)
NOT_IMPLEMENTED: dict[str, str] = {}


def check_classifier(name: str, weights: str | None = None) -> tuple[str, str, bool]:
    """The table row of `name`, or an error saying what is available or that `weights` (its
    --classifier-weights) are needed."""
    if name in NOT_IMPLEMENTED:
        raise AudiogenError(
            f"classifier {name!r} ({NOT_IMPLEMENTED[name]}) is not available in this version: "
            "its network is not implemented here (a port could not be checked against the real "
            f"weights offline). Use one of: {', '.join(sorted(CLASSIFIERS))}.")
    if name not in CLASSIFIERS:
        raise AudiogenError(f"unknown classifier {name!r}; choose one of {sorted(CLASSIFIERS)}")
    if CLASSIFIERS[name][2] and not weights:
        raise AudiogenError(f"classifier {name!r} needs --classifier-weights PATH (its weights "
                            "directory or file).")
    return CLASSIFIERS[name]


def build_classifier(name: str, weights: str | None = None) -> Classifier:
    """Build classifier `name`; `weights` is its directory when the table says it needs one."""
    module_name, class_name, needs_weights = check_classifier(name, weights)
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_path(weights) if needs_weights else cls()


def kl_divergence(p_ref: torch.Tensor, p_gen: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """KL(p_ref || p_gen) over the last dimension of `[..., L]` probabilities -> `[...]`, nats."""
    if p_ref.shape != p_gen.shape:
        raise ValueError(f"label distributions differ in shape: {p_ref.shape} vs {p_gen.shape}")
    p = p_ref.double().clamp_min(0) + eps
    q = p_gen.double().clamp_min(0) + eps
    p = p / p.sum(dim=-1, keepdim=True)
    q = q / q.sum(dim=-1, keepdim=True)
    return (p * (p.log() - q.log())).sum(dim=-1).clamp_min(0)


def pair_by_stem(generated: list[str], reference: list[str]) -> tuple[list[tuple[int, int]],
                                                                       list[str], list[str]]:
    """Pair files whose names without extension match.

    Returns (pairs of (generated index, reference index), unpaired generated stems, unpaired
    reference stems). Stems must be unique within each set.
    """
    from pathlib import PurePath

    def index(paths: list[str], what: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for i, p in enumerate(paths):
            stem = PurePath(p).stem
            if stem in out:
                raise AudiogenError(f"two {what} files share the name {stem!r}: "
                                    f"{paths[out[stem]]} and {p}; KL pairs files by name.")
            out[stem] = i
        return out

    gen, ref = index(generated, "generated"), index(reference, "reference")
    pairs = [(gen[s], ref[s]) for s in sorted(gen) if s in ref]
    return pairs, sorted(set(gen) - set(ref)), sorted(set(ref) - set(gen))


def mean_kl(p_ref: torch.Tensor, p_gen: torch.Tensor, eps: float = 1e-6) -> dict[str, float]:
    """Mean KL over pairs `[P, L]`: both directions (the paper reports reference || generated)."""
    if p_ref.shape[0] == 0:
        raise AudiogenError("KL needs at least one pair of files with the same name.")
    return {"kl_ref_gen": float(kl_divergence(p_ref, p_gen, eps).mean()),
            "kl_gen_ref": float(kl_divergence(p_gen, p_ref, eps).mean()),
            "pairs": int(p_ref.shape[0])}

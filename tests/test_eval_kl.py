"""KL divergence of label distributions and the pairing of files by name."""

import pytest
import torch

from audiogen.errors import AudiogenError
from audiogen.eval.kl import build_classifier, kl_divergence, mean_kl, pair_by_stem


def _probs(n, labels, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(n, labels, generator=g), dim=-1)


def test_kl_is_nonnegative_zero_for_identical_and_asymmetric():
    p, q = _probs(16, 10, 0), _probs(16, 10, 1)
    pq, qp = kl_divergence(p, q), kl_divergence(q, p)
    assert (pq >= 0).all() and (qp >= 0).all()
    assert torch.allclose(kl_divergence(p, p), torch.zeros(16, dtype=torch.float64), atol=1e-12)
    assert not torch.allclose(pq, qp, rtol=1e-3)


def test_kl_matches_definition_on_smooth_distributions():
    p = torch.tensor([0.5, 0.25, 0.25])
    q = torch.tensor([0.25, 0.5, 0.25])
    expected = 0.5 * torch.log(torch.tensor(2.0)) + 0.25 * torch.log(torch.tensor(0.5))
    assert float(kl_divergence(p, q)) == pytest.approx(float(expected), abs=1e-5)


def test_missing_label_costs_a_bounded_amount():
    p = torch.tensor([1.0, 0.0])
    q = torch.tensor([0.0, 1.0])
    value = float(kl_divergence(p, q, eps=1e-6))
    assert 10 < value < 15  # about log(1 / eps), finite


def test_mean_kl_reports_both_directions_and_pairs():
    p, q = _probs(5, 4, 2), _probs(5, 4, 3)
    out = mean_kl(p, q)
    assert out["pairs"] == 5
    assert out["kl_ref_gen"] == pytest.approx(float(kl_divergence(p, q).mean()))
    assert out["kl_gen_ref"] == pytest.approx(float(kl_divergence(q, p).mean()))
    with pytest.raises(AudiogenError):
        mean_kl(torch.zeros(0, 4), torch.zeros(0, 4))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        kl_divergence(torch.ones(3) / 3, torch.ones(4) / 4)


def test_pairing_by_stem_ignores_folder_and_extension():
    gen = ["/g/dog.wav", "/g/cat.wav", "/g/extra.wav"]
    ref = ["/r/sub/cat.flac", "/r/dog.ogg", "/r/alone.wav"]
    pairs, lone_gen, lone_ref = pair_by_stem(gen, ref)
    assert sorted(pairs) == [(0, 1), (1, 0)]
    assert lone_gen == ["extra"] and lone_ref == ["alone"]
    with pytest.raises(AudiogenError, match="share the name"):
        pair_by_stem(["/a/x.wav", "/b/x.flac"], ref)


def test_unimplemented_and_unknown_classifiers_say_so(monkeypatch):
    from audiogen.eval import kl

    monkeypatch.setitem(kl.NOT_IMPLEMENTED, "later", "a network not ported yet")
    with pytest.raises(AudiogenError, match="not available in this version"):
        build_classifier("later")
    with pytest.raises(AudiogenError, match="needs --classifier-weights"):
        build_classifier("passt")
    with pytest.raises(AudiogenError, match="unknown classifier"):
        build_classifier("nope")


class FakeClassifier:
    """Stands in for a classifier that loads from a directory (like the project's judge)."""

    name = "fake"
    sample_rate = 16000
    labels = ("a", "b")

    def __init__(self, directory):
        self.directory = directory

    @classmethod
    def from_path(cls, directory):
        return cls(directory)


def test_classifier_with_weights_is_built_from_its_directory(monkeypatch):
    from audiogen.eval import kl

    monkeypatch.setitem(kl.CLASSIFIERS, "fake", (__name__, "FakeClassifier", True))
    with pytest.raises(AudiogenError, match="needs --classifier-weights"):
        build_classifier("fake")
    assert build_classifier("fake", "/some/dir").directory == "/some/dir"

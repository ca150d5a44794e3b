"""Sampling and guidance with fixed logits: which tokens can come out, and how often."""

import pytest
import torch

from audiogen.lm.sampling import (
    SamplingParams,
    apply_guidance,
    sample_categorical,
    sample_next,
    top_p_filter,
)

N = 40_000  # draws per distribution test: a frequency's standard error is under 0.0025

# A fixed distribution over 8 tokens, deliberately not sorted by index.
PROBS = torch.tensor([0.05, 0.30, 0.02, 0.20, 0.08, 0.25, 0.04, 0.06])
LOGITS = PROBS.log()


def _frequencies(params: SamplingParams, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    tokens = sample_next(LOGITS.expand(N, -1), params, gen)
    assert tokens.shape == (N,) and tokens.dtype == torch.long
    return torch.bincount(tokens, minlength=len(PROBS)).float() / N


def test_guidance_arithmetic():
    cond = torch.tensor([1.0, 1.2, 0.0])
    uncond = torch.tensor([0.0, 1.2, 0.5])
    torch.testing.assert_close(apply_guidance(cond, uncond, 3.0), torch.tensor([3.0, 1.2, -1.0]))
    torch.testing.assert_close(apply_guidance(cond, uncond, 1.0), cond)
    torch.testing.assert_close(apply_guidance(cond, uncond, 0.0), uncond)


def test_plain_sampling_matches_the_distribution():
    freq = _frequencies(SamplingParams(temperature=1.0, top_k=0, top_p=0.0))
    torch.testing.assert_close(freq, PROBS, atol=0.01, rtol=0)


def test_top_k_draws_only_the_k_most_likely_in_proportion():
    freq = _frequencies(SamplingParams(top_k=3))
    allowed = torch.tensor([1, 3, 5])  # 0.30, 0.20, 0.25
    outside = torch.ones(len(PROBS), dtype=torch.bool)
    outside[allowed] = False
    assert freq[outside].sum() == 0
    expected = PROBS[allowed] / PROBS[allowed].sum()
    torch.testing.assert_close(freq[allowed], expected, atol=0.012, rtol=0)


def test_top_p_keeps_the_smallest_set_reaching_p():
    # Sorted: 0.30 (1), 0.25 (5), 0.20 (3), 0.08 (4) ... ; 0.30 + 0.25 = 0.55 < 0.6, so token 3
    # is needed too, and nothing else.
    freq = _frequencies(SamplingParams(top_k=0, top_p=0.6))
    allowed = torch.tensor([1, 5, 3])
    assert freq.sum() == pytest.approx(freq[allowed].sum())
    expected = PROBS[allowed] / PROBS[allowed].sum()
    torch.testing.assert_close(freq[allowed], expected, atol=0.012, rtol=0)


def test_top_p_wins_over_top_k():
    freq = _frequencies(SamplingParams(top_k=7, top_p=0.25))  # top-p 0.25 keeps token 1 only
    assert freq[1] == 1.0


def test_tiny_top_p_keeps_the_most_likely_token():
    logits = torch.randn(64, 50)
    kept = top_p_filter(logits, 1e-6)
    assert (torch.isfinite(kept).sum(-1) == 1).all()
    assert torch.equal(kept.argmax(-1), logits.argmax(-1))


def test_top_k_of_card_or_more_is_plain_sampling():
    logits = torch.randn(64, 10)

    def draw(k):
        return sample_next(logits, SamplingParams(top_k=k), torch.Generator().manual_seed(5))

    assert torch.equal(draw(10), draw(0))
    assert torch.equal(draw(99), draw(0))
    kept = set(logits.topk(4, dim=-1).indices.flatten().tolist())
    assert set(draw(4).tolist()) <= kept


def test_greedy_picks_the_argmax():
    logits = torch.randn(3, 4, 2048)
    gen = torch.Generator().manual_seed(1)
    tokens = sample_next(logits, SamplingParams(temperature=0.0), gen)
    assert torch.equal(tokens, logits.argmax(-1))


def test_temperature_sharpens_or_flattens_the_distribution():
    # softmax(log p / T) is p^(1/T) renormalised.
    for temperature in (0.25, 4.0):
        freq = _frequencies(SamplingParams(temperature=temperature, top_k=0))
        expected = PROBS ** (1 / temperature)
        torch.testing.assert_close(freq, expected / expected.sum(), atol=0.012, rtol=0)
    cold = _frequencies(SamplingParams(temperature=0.25, top_k=0))
    assert cold[1] > 0.55 and cold.min() < 0.001


def test_same_generator_seed_same_draws_different_seed_different():
    a = _frequencies(SamplingParams(top_k=0), seed=3)
    b = _frequencies(SamplingParams(top_k=0), seed=3)
    c = _frequencies(SamplingParams(top_k=0), seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_filtered_tokens_never_come_out_even_with_tiny_probabilities():
    # Only token 0 has any mass: every draw must be 0, whatever the exponential draws are.
    probs = torch.zeros(N, 16)
    probs[:, 0] = 1e-30
    assert (sample_categorical(probs, torch.Generator().manual_seed(0)) == 0).all()


def test_bad_params_rejected():
    with pytest.raises(ValueError):
        SamplingParams(top_k=-1)
    with pytest.raises(ValueError):
        SamplingParams(top_p=1.5)

"""The decode loop, guidance and the sliding window, around a fixed fake LM (tests/fake_lm.py)."""

import itertools

import pytest
import torch
from fake_lm import FakeLM
from sync_detector import SyncRecorder

from audiogen.generation import (
    DecodePlan,
    decode,
    generate_long,
    iter_decode,
    plan_windows,
    prepare_condition,
)
from audiogen.lm.patterns import PATTERN_NAMES
from audiogen.lm.sampling import SamplingParams

GREEDY = SamplingParams(temperature=0.0)


def _counting(B: int, K: int, T: int, card: int, start: torch.Tensor | None = None):
    """What the following fake LM produces greedily: each codebook counts up by one per frame."""
    first = torch.zeros(B, K, 1, dtype=torch.long) if start is None else start[..., None]
    return (first + torch.arange(T)) % card


@pytest.mark.parametrize("pattern", PATTERN_NAMES)
def test_greedy_decoding_follows_the_pattern(pattern):
    lm = FakeLM(card=16, num_codebooks=3, pattern=pattern, follow=10.0)
    cond = lm.text(["a", "b"])
    codes = decode(lm, cond, 20, sampling=GREEDY)
    assert codes.shape == (2, 3, 20)
    assert torch.equal(codes, _counting(2, 3, 20, 16))


@pytest.mark.parametrize("pattern", PATTERN_NAMES)
def test_empty_pattern_positions_hold_the_special_token(pattern):
    lm = FakeLM(card=16, num_codebooks=3, pattern=pattern, scale=5.0)
    steps = list(iter_decode(lm, lm.text(["x"]), 9, sampling=SamplingParams(top_k=0),
                             generator=torch.Generator().manual_seed(0)))
    seq = steps[-1].seq
    valid = lm.pattern.valid_mask(9)
    assert (seq[:, ~valid] == 16).all()
    assert (seq[:, valid] < 16).all()


def test_cache_is_prefilled_once_then_fed_one_step_at_a_time():
    lm = FakeLM(card=16, num_codebooks=4, follow=10.0)
    decode(lm, lm.text(["a"]), 10, sampling=GREEDY)
    (_, max_steps), = lm.starts
    S = lm.pattern.num_steps(10)
    assert max_steps == S
    assert [c.shape[-1] for c in lm.calls] == [1] * (S - 1)
    # every step before the last is fed exactly once, in order
    fed = torch.cat(lm.calls, dim=-1)
    assert fed.shape[-1] == S - 1


@pytest.mark.parametrize("pattern", PATTERN_NAMES)
def test_continuation_keeps_the_prompt_codes(pattern):
    # The counting LM would predict prompt[t - 1] + 1 for frame t, not a random prompt's code.
    lm = FakeLM(card=16, num_codebooks=3, pattern=pattern, follow=10.0)
    prompt = torch.randint(0, 16, (2, 3, 7))
    codes = decode(lm, lm.text(["", ""]), 15, prompt=prompt, sampling=GREEDY)
    assert torch.equal(codes[..., :7], prompt)
    # after the prompt every codebook carries on counting from its last prompt frame
    expected = _counting(2, 3, 9, 16, start=prompt[..., -1])[..., 1:]
    assert torch.equal(codes[..., 7:], expected)


def test_prompt_is_prefilled_in_one_call():
    lm = FakeLM(card=16, num_codebooks=4, follow=10.0)
    prompt = torch.randint(0, 16, (1, 4, 6))
    decode(lm, lm.text([None]), 12, prompt=prompt, sampling=GREEDY)
    first = lm.pattern.first_step_with_frame(6, 12)
    assert lm.calls[0].shape[-1] == first  # steps 0 .. first-1 hold only prompt codes
    assert all(c.shape[-1] == 1 for c in lm.calls[1:])
    assert torch.equal(lm.calls[0], lm.pattern.build(
        torch.cat([prompt, torch.zeros(1, 4, 6, dtype=torch.long)], -1), 16)[..., :first])


def test_guidance_combines_cond_and_uncond_in_one_batch():
    card = 6
    cond_vec = torch.tensor([1.0, 1.2, 0.0, 0.0, 0.0, 0.0])
    lm = FakeLM(card=card, num_codebooks=2, vectors={"dog": cond_vec})
    # unconditional logits are all zero: argmax(cond) = 1 but guidance with γ = 3 gives
    # 0 + 3 * cond = [3, 3.6, ...] -> still 1; make the uncond row differ with a negative prompt
    neg_vec = torch.tensor([0.0, 1.2, 0.0, 0.0, 0.0, 0.5])
    lm.text.vectors["muffled"] = neg_vec
    cond, guidance = prepare_condition(lm, ["dog"], "muffled", 3.0)
    assert guidance == 3.0 and cond.embeddings.shape[0] == 2
    codes = decode(lm, cond, 5, guidance=guidance, sampling=GREEDY)
    guided = neg_vec + 3.0 * (cond_vec - neg_vec)  # [3, 1.2, 0, 0, 0, -1]
    assert guided.argmax() == 0 and cond_vec.argmax() == 1 and neg_vec.argmax() == 1
    assert (codes == 0).all()
    # the step batch is 2B: the same tokens for both halves
    assert all(c.shape[0] == 2 and torch.equal(c[0], c[1]) for c in lm.calls)
    # the unconditional half is the negative prompt, not the empty condition
    (start_cond, _), = lm.starts
    torch.testing.assert_close(start_cond.embeddings[1, 0], neg_vec)


def test_guidance_without_negative_uses_the_empty_condition():
    lm = FakeLM(card=6, num_codebooks=2)
    cond, guidance = prepare_condition(lm, ["dog", "cat"], None, 3.0)
    assert guidance == 3.0 and cond.embeddings.shape[0] == 4
    assert (cond.embeddings[2:] == 0).all() and not cond.mask[2:].any()


def test_guidance_is_skipped_where_it_changes_nothing():
    lm = FakeLM(card=6, num_codebooks=2)
    cond, guidance = prepare_condition(lm, ["dog"], None, 1.0)
    assert guidance is None and cond.embeddings.shape[0] == 1
    cond, guidance = prepare_condition(lm, ["", None], None, 3.0)  # unconditional
    assert guidance is None and cond.embeddings.shape[0] == 2
    cond, guidance = prepare_condition(lm, [""], "noise", 3.0)  # away from a negative prompt
    assert guidance == 3.0 and cond.embeddings.shape[0] == 2


def test_same_seed_same_codes_different_seed_different():
    lm = FakeLM(card=16, num_codebooks=4, scale=0.5)
    cond = lm.text(["rain", "wind"])

    def run(seed):
        return decode(lm, cond, 30, sampling=SamplingParams(top_k=8),
                      generator=torch.Generator().manual_seed(seed))

    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.unique().numel() > 4  # really sampled, not stuck on one token


def test_frames_reported_final_never_change():
    lm = FakeLM(card=16, num_codebooks=4, scale=1.0)
    gen = torch.Generator().manual_seed(0)
    snapshots = []
    for out in iter_decode(lm, lm.text(["x"]), 12, sampling=SamplingParams(top_k=0),
                           generator=gen):
        snapshots.append((out.frames_final, lm.pattern.revert(out.seq.clone(), 12)))
    final = snapshots[-1][1]
    assert snapshots[-1][0] == 12
    counts = [n for n, _ in snapshots]
    assert counts == sorted(counts) and counts[0] < 12
    for n, codes in snapshots:
        assert torch.equal(codes[..., :n], final[..., :n])
    # delay [0..3]: frame t is complete once codebook 3 has written it, at step t + 4
    assert counts == [max(0, s - 3) for s in range(1, lm.pattern.num_steps(12))]


def test_progress_callback_counts_every_step():
    lm = FakeLM(card=16, num_codebooks=4, follow=10.0)
    seen = []
    decode(lm, lm.text(["a"]), 8, sampling=GREEDY, callback=lambda d, t: seen.append((d, t)))
    total = lm.pattern.num_steps(8) - 1
    assert seen == [(i, total) for i in range(1, total + 1)]


def test_plan_rejects_a_prompt_as_long_as_the_output():
    lm = FakeLM()
    with pytest.raises(ValueError):
        DecodePlan.build(lm.pattern, 4, 10, 10, torch.device("cpu"))


# ---- sliding window -------------------------------------------------------------------------

@pytest.mark.parametrize("total,window,stride,prompt", [
    (50, 20, 5, 0), (20, 20, 5, 0), (7, 20, 5, 0), (51, 20, 7, 3), (60, 20, 5, 19), (80, 20, 5, 45),
])
def test_windows_tile_the_output(total, window, stride, prompt):
    plans = plan_windows(total, window, stride, prompt)
    assert plans[0][1] == prompt
    assert plans[-1][2] == total
    for (_, _, e0), (s1, k1, _) in itertools.pairwise(plans):
        assert k1 == e0  # the new frames follow on without gap or overlap
        assert k1 - s1 == window - stride  # later windows carry window - stride frames of context
    assert all(e - s <= window and e > k for s, k, e in plans)


def test_long_form_joins_windows_seamlessly():
    """A counting LM decoded window by window counts without a break across every join."""
    lm = FakeLM(card=64, num_codebooks=4, follow=10.0)
    cond = lm.text(["a", "b"])
    contexts = []

    def window_decoder(context, frames):
        contexts.append(None if context is None else context.clone())
        return decode(lm, cond, frames, prompt=context, sampling=GREEDY)

    codes = generate_long(window_decoder, 47, window=20, stride=6)
    assert codes.shape == (2, 4, 47)
    assert torch.equal(codes, _counting(2, 4, 47, 64))
    assert len(contexts) == 1 + (47 - 20 + 5) // 6
    assert contexts[0] is None and all(c.shape[-1] == 14 for c in contexts[1:])
    # every window after the first started from the frames just before its new ones
    assert torch.equal(contexts[1], codes[..., 6:20])


def test_long_form_with_a_prompt_keeps_it():
    lm = FakeLM(card=64, num_codebooks=4, follow=10.0)
    cond = lm.text(["a"])
    prompt = torch.randint(0, 64, (1, 4, 5))
    codes = generate_long(lambda c, n: decode(lm, cond, n, prompt=c, sampling=GREEDY),
                          33, window=12, stride=4, prompt=prompt)
    assert torch.equal(codes[..., :5], prompt)
    assert torch.equal(codes[..., 4:], _counting(1, 4, 29, 64, start=prompt[..., -1]))


# ---- no host synchronisation inside the loop (issue: fast generation) ------------------------

def _steps_record_syncs(lm, cond, **kwargs):
    steps = iter_decode(lm, cond, 12, **kwargs)
    next(steps)  # the plan (built once, on the host, before the first step) is not the loop
    with SyncRecorder() as recorder:
        for _ in steps:
            pass
    return recorder.seen


@pytest.mark.parametrize("sampling", [GREEDY, SamplingParams(top_k=5),
                                      SamplingParams(top_p=0.8, temperature=0.7)])
def test_decode_loop_reads_nothing_back_from_the_device(sampling):
    lm = FakeLM(card=16, num_codebooks=4, follow=3.0)
    cond, guidance = prepare_condition(lm, ["a", "b"], "c", 3.0)
    prompt = torch.randint(0, 16, (2, 4, 3))
    seen = _steps_record_syncs(lm, cond, prompt=prompt, guidance=guidance, sampling=sampling,
                               generator=torch.Generator().manual_seed(0))
    assert seen == []


def test_the_recorder_does_see_a_sync():
    with SyncRecorder() as recorder:
        torch.ones(3).sum().item()
        bool(torch.ones(1) > 0)
    assert recorder.seen == ["_local_scalar_dense", "_local_scalar_dense"]


# ---- with the real (tiny, random) AudioLM ---------------------------------------------------

def _tiny_lm(**overrides):
    import dataclasses

    from audiogen.lm import AudioLM, lm_preset

    torch.manual_seed(0)
    return AudioLM(dataclasses.replace(lm_preset("tiny"), **overrides)).eval()


def _tiny_cond(rows: int):
    from audiogen.text.conditioner import TextCondition

    lengths = torch.tensor([3, 1, 2, 0, 3, 0])[:rows]
    mask = torch.arange(3)[None] < lengths[:, None]
    return TextCondition(torch.randn(rows, 3, 32) * mask[..., None], mask)


@pytest.mark.parametrize("overrides", [{}, {"text_prefix": True}, {"pattern": "flattened"}])
def test_real_lm_greedy_decoding_equals_the_plain_full_forward_loop(overrides):
    """The cached loop (prefill + one step at a time) picks exactly the tokens that running the
    whole sequence through the model at every step picks."""
    lm = _tiny_lm(**overrides)
    B, T, gamma, card = 2, 10, 3.0, lm.config.card
    cond = _tiny_cond(2 * B)
    prompt = torch.randint(0, card, (B, 4, 3))
    fast = decode(lm, cond, T, prompt=prompt, guidance=gamma, sampling=GREEDY)

    plan = DecodePlan.build(lm.pattern, 4, T, 3, torch.device("cpu"))
    codes = torch.zeros(B, 4, T, dtype=torch.long)
    codes[..., :3] = prompt
    seq = lm.pattern.build(codes, card)
    with torch.no_grad():
        for s in range(plan.first_step, plan.num_steps):
            logits = lm(torch.cat([seq[..., :s]] * 2), cond)[:, :, -1]
            tokens = (logits[B:] + gamma * (logits[:B] - logits[B:])).argmax(-1)
            tokens = torch.where(plan.valid[:, s], tokens, card)
            seq[..., s] = torch.where(plan.known[:, s], seq[..., s], tokens)
    assert torch.equal(fast, lm.pattern.revert(seq, T))


@pytest.mark.parametrize("overrides", [{}, {"text_prefix": True}])
def test_real_lm_decode_loop_reads_nothing_back_from_the_device(overrides):
    lm = _tiny_lm(**overrides)
    seen = _steps_record_syncs(lm, _tiny_cond(4), guidance=3.0, sampling=SamplingParams(top_k=5),
                               generator=torch.Generator().manual_seed(0))
    assert seen == []

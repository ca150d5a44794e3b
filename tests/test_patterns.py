import pytest
import torch

from audiogen.lm.patterns import make_pattern

SPECIAL = 99
CASES = [("parallel", None), ("delay", None), ("delay", [0, 2, 2, 5]), ("flattened", None),
         ("coarse_first", None), ("coarse_first", [0, 1, 1])]


@pytest.mark.parametrize("name,delays", CASES)
@pytest.mark.parametrize("T", [1, 5, 12])
def test_build_revert_round_trip(name, delays, T):
    p = make_pattern(name, 4, delays)
    codes = torch.randint(0, 50, (3, 4, T))
    seq = p.build(codes, SPECIAL)
    assert seq.shape == (3, 4, p.num_steps(T))
    assert (seq[:, :, 0] == SPECIAL).all(), "every pattern starts with one empty step"
    assert torch.equal(p.revert(seq, T), codes)
    mask = p.valid_mask(T)
    assert mask.sum() == 4 * T, "each code is placed exactly once"
    assert ((seq == SPECIAL) == ~mask).all()
    # trailing dims (logits) revert the same way
    logits = seq.unsqueeze(-1).expand(-1, -1, -1, 3).float()
    assert torch.equal(p.revert(logits, T)[..., 2], codes.float())


@pytest.mark.parametrize("name,delays", CASES)
def test_frame_index_matches_build(name, delays):
    T = 6
    p = make_pattern(name, 4, delays)
    codes = torch.arange(4 * T).view(1, 4, T)
    seq = p.build(codes, SPECIAL)
    for s in range(p.num_steps(T)):
        placed = [(k, int(seq[0, k, s]) % T) for k in range(4) if seq[0, k, s] != SPECIAL]
        assert p.frame_index(s, T) == placed, s
    assert p.frame_index(0, T) == []


def test_delay_layout_matches_spec():
    p = make_pattern("delay", 4)
    T = 5
    assert p.num_steps(T) == T + 3 + 1
    seq = p.build(torch.arange(T).repeat(1, 4, 1), SPECIAL)
    # codebook q at step s holds frame s - 1 - q
    for q in range(4):
        for s in range(p.num_steps(T)):
            t = s - 1 - q
            assert seq[0, q, s] == (t if 0 <= t < T else SPECIAL)
    assert p.first_step_with_frame(2, T) == 3


def test_flattened_and_coarse_first_lengths():
    assert make_pattern("flattened", 4).num_steps(10) == 41
    assert make_pattern("coarse_first", 4, [0, 1, 2]).num_steps(10) == 1 + 20 + 2
    assert make_pattern("parallel", 4).num_steps(10) == 11
    with pytest.raises(ValueError):
        make_pattern("coarse_first", 4).frame_index(3)


@pytest.mark.parametrize("bad", [("delay", [0, 1]), ("delay", [2, 1, 0, 0]), ("parallel", [0, 1, 0, 0]),
                                 ("nope", None)])
def test_bad_patterns_raise(bad):
    with pytest.raises(ValueError):
        make_pattern(bad[0], 4, bad[1])

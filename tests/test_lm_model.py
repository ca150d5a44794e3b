import dataclasses

import pytest
import torch
from test_lm_parity import one_thread  # noqa: F401  (autouse: tiny models, one thread)

from audiogen.errors import MissingFilesError
from audiogen.lm import AudioLM, LMConfig, lm_preset
from audiogen.text.conditioner import TextCondition


def _cond(B=3, L=4, D=32, lengths=(4, 2, 0)):
    mask = torch.arange(L)[None, :] < torch.tensor(lengths)[:, None]
    return TextCondition(torch.randn(B, L, D) * mask[..., None], mask)


def _model(**overrides) -> AudioLM:
    return AudioLM(dataclasses.replace(lm_preset("tiny"), **overrides)).eval()


VARIANTS = [
    {},
    {"cross_attention_mask": False},
    {"text_prefix": True},
    {"text_prefix": True, "cross_attention": False},
    {"pattern": "flattened", "bias_attn": True, "bias_ffn": True, "bias_heads": True},
]


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("overrides", VARIANTS)
def test_cached_decoding_equals_full_forward(overrides, static):
    model = _model(**overrides)
    codes = torch.randint(0, 16, (3, 4, 6))
    seq = model.pattern.build(codes, model.special_token)
    cond = _cond()
    full = model(seq, cond)
    # the static cache is larger than needed: its unwritten slots must stay masked
    state = model.start(cond, max_steps=seq.shape[2] + 3 * static, static=static)
    chunks = [model.step(seq[:, :, :3], state)]  # prefill 3 steps, then one at a time
    for s in range(3, seq.shape[2]):
        chunks.append(model.step(seq[:, :, s:s + 1], state))
    assert state.steps == seq.shape[2]
    if static:
        assert int(state.cache.position) == state.cache.length
    torch.testing.assert_close(torch.cat(chunks, dim=2), full, atol=1e-4, rtol=0)
    if not static:
        with pytest.raises(ValueError, match="cache full"):
            model.step(seq[:, :, :1], state)


@pytest.mark.parametrize("overrides", [{}, {"text_prefix": True}])
def test_causality_through_gradients(overrides):
    model = _model(**overrides)
    cond = _cond()
    S, t = 7, 3
    x = torch.randn(3, S, 32, requires_grad=True)
    prefix = cond.embeddings.shape[1] if model.config.text_prefix else 0
    cross = model.transformer.cross_kv(cond.embeddings, cond.mask)
    inp = torch.cat([cond.embeddings, x], dim=1) if prefix else x
    key_valid = torch.nn.functional.pad(cond.mask, (0, S), value=True) if prefix else None
    out = model.transformer(inp, cross, key_valid=key_valid)[:, prefix:]
    (out[:, t] * torch.randn_like(out[:, t])).sum().backward()  # (a plain sum of a LayerNorm output is constant)
    assert (x.grad[:, t + 1:] == 0).all()
    assert (x.grad[:, : t + 1].abs().sum(-1) > 0).all()


def test_future_tokens_do_not_change_past_logits():
    model = _model()
    seq = torch.randint(0, 17, (2, 4, 8))
    other = seq.clone()
    other[:, :, 5:] = torch.randint(0, 17, (2, 4, 3))
    cond = _cond(B=2, lengths=(3, 1))
    torch.testing.assert_close(model(seq, cond)[:, :, :5], model(other, cond)[:, :, :5])


@pytest.mark.parametrize("masked", [True, False])
def test_zero_padding_and_null_condition_are_neutral(masked):
    """Padding a condition with zeros (as TextCondition.cat does for guidance batches) leaves
    the output unchanged; the null condition gives the same output at any length."""
    model = _model(cross_attention_mask=masked)
    seq = torch.randint(0, 17, (1, 4, 5))
    cond = _cond(B=1, lengths=(2,))
    short = TextCondition(cond.embeddings[:, :2], cond.mask[:, :2])
    if masked:
        torch.testing.assert_close(model(seq, short), model(seq, cond), atol=1e-5, rtol=0)
    null1, null4 = model.text.null(1), model.text.null(1, length=4)
    torch.testing.assert_close(model(seq, null1), model(seq, null4), atol=1e-5, rtol=0)
    both = TextCondition.cat([cond, null1])
    assert both.embeddings.shape == (2, 4, 32) and not both.mask[1].any()
    out = model(seq.repeat(2, 1, 1), both)
    torch.testing.assert_close(out[1:], model(seq, null1), atol=1e-5, rtol=0)


def test_loss_counts_only_valid_positions():
    model = _model()
    codes = torch.randint(0, 16, (2, 4, 5))
    cond = _cond(B=2, lengths=(3, 1))
    loss, metrics = model.compute_loss(codes, cond)
    # recompute by hand from the pattern
    seq = model.pattern.build(codes, model.special_token)
    logits = model(seq, cond)
    ces = []
    for k in range(4):
        steps = [s for s in range(seq.shape[2] - 1) if seq[0, k, s + 1] != model.special_token]
        ces.append(torch.nn.functional.cross_entropy(
            logits[:, k, steps].reshape(-1, 16), seq[:, k, [s + 1 for s in steps]].reshape(-1)))
    torch.testing.assert_close(loss, torch.stack(ces).mean())
    assert set(metrics) == {"ce"} | {f"{m}/q{k}" for m in ("ce", "ppl") for k in range(4)}
    assert float(metrics["ppl/q0"]) == pytest.approx(torch.exp(ces[0]).item(), rel=1e-4)
    loss.backward()
    assert model.text.proj.weight.grad is None or model.text.proj.weight.grad.abs().sum() == 0


def test_condition_dropout_in_training_only():
    model = _model(cfg_dropout=1.0)
    codes = torch.randint(0, 16, (3, 4, 5))
    cond, null = _cond(), model.text.null(3, length=4)
    eval_loss = model.compute_loss(codes, cond)[0]
    model.train()
    torch.testing.assert_close(model.compute_loss(codes, cond)[0], model.compute_loss(codes, null)[0])
    model.eval()
    assert not torch.allclose(eval_loss, model.compute_loss(codes, null)[0])
    dropped = model.drop_condition(cond, 0.5)
    kept = dropped.mask.any(1) | (cond.mask.sum(1) == 0)
    assert ((dropped.embeddings == 0).all(-1).all(-1) | kept).all()


def test_save_load_round_trip(tmp_path):
    model = _model(text_prefix=True)
    model.save(tmp_path, generation={"top_k": 50})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm.json", "lm.safetensors"]
    loaded = AudioLM.load(tmp_path)
    assert loaded.config == model.config
    seq = torch.randint(0, 17, (3, 4, 6))
    cond = _cond()
    torch.testing.assert_close(loaded(seq, cond), model(seq, cond), atol=0, rtol=0)
    import json
    meta = json.loads((tmp_path / "lm.json").read_text())
    assert meta["format"] == "audiogen-lm" and meta["generation"]["top_k"] == 50
    assert meta["text_encoder"]["kind"] == "minilm"
    assert all(not k.startswith("text.") or k.startswith("text.proj.")
               for k in model.state_dict())
    (tmp_path / "lm.safetensors").unlink()
    with pytest.raises(MissingFilesError, match="lm.safetensors"):
        AudioLM.load(tmp_path)


def test_presets_and_config_round_trip():
    medium = lm_preset("audiogen-medium")
    assert (medium.dim, medium.num_layers, medium.num_heads, medium.ffn_dim) == (1536, 48, 24, 6144)
    assert 1.5e9 < medium.num_parameters() < 1.9e9
    assert 0.25e9 < lm_preset("paper-base").num_parameters() < 0.3e9
    assert 0.95e9 < lm_preset("paper-large").num_parameters() < 1.1e9
    tiny = lm_preset("tiny")
    assert LMConfig.from_dict(tiny.to_dict()) == tiny
    assert sum(p.numel() for p in AudioLM(tiny).parameters()) == tiny.num_parameters()
    with pytest.raises(ValueError):
        lm_preset("huge")


def test_init_scales_deeper_layers_down():
    model = AudioLM(dataclasses.replace(lm_preset("tiny"), dim=64, ffn_dim=256, num_layers=4))
    stds = [layer.ffn_in.weight.std().item() for layer in model.transformer.layers]
    for i, std in enumerate(stds):
        expected = (1 / 64 ** 0.5) / (2 * (i + 1)) ** 0.5
        assert std == pytest.approx(expected * 0.9866, rel=0.1)  # truncation at 3 std


def test_frame_mask_leaves_padding_out_of_the_loss():
    model = _model()
    codes = torch.randint(0, 16, (2, 4, 6))
    cond = _cond(B=2, lengths=(3, 1))
    full = torch.ones(2, 6, dtype=torch.bool)
    torch.testing.assert_close(model.compute_loss(codes, cond, full)[0],
                               model.compute_loss(codes, cond)[0])
    # one clip of 4 frames padded to 6 (its padding holds garbage) == that clip alone
    mask = full.clone()
    mask[0, 4:] = False
    padded = codes.clone()
    padded[0, :, 4:] = -1
    one = TextCondition(cond.embeddings[:1], cond.mask[:1])
    alone = model.compute_loss(codes[:1, :, :4], one)[0]
    torch.testing.assert_close(model.compute_loss(padded[:1], one, mask[:1])[0], alone)

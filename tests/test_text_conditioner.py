import importlib.util
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.text.conditioner import (
    TextCondition,
    TextConditioner,
    TextEncoderConfig,
    check_tokenizer,
    load_text_encoder,
)

ROOT = Path(__file__).resolve().parent.parent
T5_FIXTURE = ROOT / "tests" / "fixtures" / "lm" / "tiny-t5"  # 512 wide: "t5-small"


def _fixture_tools():
    spec = importlib.util.spec_from_file_location("make_lm_fixtures",
                                                  ROOT / "tools" / "make_lm_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _make_t5_dir(path, words=None, d_model=512):
    """A tiny T5 encoder + tokenizer on disk, shaped like a Hugging Face release."""
    tools = _fixture_tools()
    return tools.make_tiny_t5_dir(path, tools.T5_WORDS if words is None else words, d_model)


@pytest.fixture
def t5_dir():
    return T5_FIXTURE


def test_minilm_default_encoder_offline():
    conditioner = TextConditioner(TextEncoderConfig(), output_dim=32)
    cond = conditioner(["A dog barks", "", None, "rain falls on a tin roof"])
    B, L, D = cond.embeddings.shape
    assert (B, D) == (4, 32) and cond.mask.shape == (4, L)
    n = len(conditioner.encoder.tokenizer("a dog barks")["input_ids"])  # [CLS] ... [SEP]
    assert cond.mask[0].sum() == n and n >= 5
    assert not cond.mask[1].any() and not cond.mask[2].any()
    assert (cond.embeddings[1:3] == 0).all()
    assert (cond.embeddings[0, n:] == 0).all() and (cond.embeddings[0, :n] != 0).any()
    # captions are cleaned the same way as in training
    again = conditioner(["  a DOG   barks"])
    torch.testing.assert_close(again.embeddings[0], cond.embeddings[0, :n])
    # frozen encoder: not in the state dict, no gradients, loaded once
    assert list(conditioner.state_dict()) == ["proj.weight", "proj.bias"]
    assert conditioner.encoder is load_text_encoder(TextEncoderConfig())
    cond.embeddings.sum().backward()
    assert conditioner.proj.weight.grad is not None
    assert all(p.grad is None for p in conditioner.encoder.model.parameters())


def test_t5_directory_loads_and_truncates_with_warning(t5_dir):
    config = TextEncoderConfig(kind="t5", name="tiny-t5", path=str(t5_dir), dim=512, max_length=6)
    conditioner = TextConditioner(config, output_dim=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        short = conditioner(["a dog barks"])
    assert short.mask.sum() == 4  # 3 words + </s>
    with pytest.warns(UserWarning, match="truncated"):
        long = conditioner(["a dog barks while the car passes by the rain", "rain"])
    assert long.embeddings.shape == (2, 6, 8) and long.mask[0].all()


def test_t5_tokenizer_without_vocabulary_is_refused(tmp_path):
    path = _make_t5_dir(tmp_path, words=[])
    config = TextEncoderConfig(kind="t5", name="t5-large", path=str(path), dim=512)
    with pytest.raises(AudiogenError, match="<unk>"):
        TextConditioner(config, output_dim=8)(["a dog barks"])


def test_check_tokenizer_detects_unk_only(t5_dir):
    from transformers import AutoTokenizer

    check_tokenizer(AutoTokenizer.from_pretrained(str(t5_dir)))

    class AllUnk:
        unk_token_id = 2

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [2] * len(text.split())}

        def decode(self, ids):
            return "<unk>"

    with pytest.raises(AudiogenError, match="vocabulary did not load"):
        check_tokenizer(AllUnk(), "t5-large")


def test_missing_t5_files_are_listed(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    config = TextEncoderConfig(kind="t5", name="t5-large", path=str(tmp_path), dim=1024)
    with pytest.raises(MissingFilesError, match="model.safetensors") as info:
        TextConditioner(config, output_dim=8)(["a dog"])
    assert any("tokenizer.json" in m for m in info.value.missing)
    with pytest.raises(AudiogenError, match="needs a local directory"):
        TextConditioner(TextEncoderConfig(kind="t5", dim=1024), output_dim=8)(["a dog"])


def test_unconditional_batch_never_loads_the_encoder():
    config = TextEncoderConfig(kind="t5", name="t5-large", path="/nonexistent", dim=1024)
    cond = TextConditioner(config, output_dim=8)(["", None, "   "])
    assert cond.embeddings.shape == (3, 1, 8) and not cond.mask.any()
    assert (cond.embeddings == 0).all()


def test_condition_cat_pads_with_zeros():
    a = TextCondition(torch.ones(1, 3, 4), torch.ones(1, 3, dtype=torch.bool))
    b = TextCondition(torch.ones(2, 1, 4), torch.ones(2, 1, dtype=torch.bool))
    c = TextCondition.cat([a, b])
    assert c.embeddings.shape == (3, 3, 4)
    assert c.mask.tolist() == [[True] * 3, [True, False, False], [True, False, False]]
    assert (c.embeddings[1:, 1:] == 0).all()


def test_t5_conditioner_matches_reference():
    """Against audiocraft's T5Conditioner on the same tiny T5 folder and projection
    (tools/make_lm_fixtures.py): tokenisation, padding, the empty caption, the projection."""
    golden = load_file(str(T5_FIXTURE.parent / "t5_conditioner.safetensors"))
    config = TextEncoderConfig(kind="t5", name="t5-small", path=str(T5_FIXTURE), dim=512,
                               max_length=512)
    conditioner = TextConditioner(config, output_dim=8)
    conditioner.proj.load_state_dict({"weight": golden["proj.weight"],
                                      "bias": golden["proj.bias"]})
    with torch.no_grad():
        cond = conditioner(_fixture_tools().T5_CAPTIONS)
    assert torch.equal(cond.mask, golden["mask"])
    torch.testing.assert_close(cond.embeddings, golden["embeddings"], atol=1e-5, rtol=0)

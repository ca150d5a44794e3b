import warnings

import pytest
import torch

from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.text.conditioner import (
    TextCondition,
    TextConditioner,
    TextEncoderConfig,
    check_tokenizer,
    load_text_encoder,
)

WORDS = ["a", "dog", "barks", "while", "car", "passes", "by", "the", "rain", "falls"]


def _make_t5_dir(path, words=WORDS, d_model=16):
    """A tiny T5 encoder + tokenizer on disk, shaped like a Hugging Face release."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import T5Config, T5EncoderModel, T5TokenizerFast

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("▁" + w, -1.0) for w in words]
    tok = Tokenizer(models.Unigram(vocab + [("▁", -2.0)], unk_id=2))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>",
                                                       special_tokens=[("</s>", 1)])
    T5TokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>",
                    pad_token="<pad>", extra_ids=0).save_pretrained(path)
    config = T5Config(vocab_size=len(vocab) + 1, d_model=d_model, d_kv=4, num_heads=2, num_layers=1,
                      d_ff=32)
    T5EncoderModel(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory):
    return _make_t5_dir(tmp_path_factory.mktemp("t5"))


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
    config = TextEncoderConfig(kind="t5", name="tiny-t5", path=str(t5_dir), dim=16, max_length=6)
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
    config = TextEncoderConfig(kind="t5", name="t5-large", path=str(path), dim=16)
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

import copy
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audiogen.convert.lm import (
    convert_lm_state_dict,
    import_audiocraft_lm,
    lm_config_from_xp_cfg,
    native_key,
)
from audiogen.errors import AudiogenError
from audiogen.lm import AudioLM, lm_preset

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lm"


def _xp_cfg() -> dict:
    return json.loads((FIXTURES / "released.json").read_text())["xp_cfg"]


def test_key_table_names():
    assert native_key("transformer.layers.47.self_attn.in_proj_weight") == \
        "transformer.layers.47.self_attn.in_proj.weight"
    assert native_key("transformer.layers.3.cross_attention.out_proj.weight") == \
        "transformer.layers.3.cross_attn.out_proj.weight"
    assert native_key("transformer.layers.0.norm2.bias") == "transformer.layers.0.norm_ffn.bias"
    assert native_key("emb.3.weight") == "embeddings.3.weight"
    assert native_key("linears.2.weight") == "heads.2.weight"
    assert native_key("out_norm.weight") == "transformer.norm_out.weight"
    assert native_key("condition_provider.conditioners.description.output_proj.bias") == \
        "text.proj.bias"
    assert native_key("transformer.layers.2.self_attn.mha.in_proj_bias") == \
        "transformer.layers.2.self_attn.in_proj.bias"
    assert native_key("transformer.layers.0.self_attn.rope.freqs") is None
    with pytest.raises(AudiogenError, match="does not know"):
        convert_lm_state_dict({"transformer.layers.0.layer_scale_1.scale": torch.zeros(1)})


def test_table_covers_every_released_key_and_every_native_weight():
    meta = json.loads((FIXTURES / "released.json").read_text())
    native = {native_key(k): v for k, v in meta["shapes"].items()}
    assert None not in native
    config = lm_config_from_xp_cfg(meta["xp_cfg"])
    with torch.device("meta"):
        model = AudioLM(config)
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == native


@pytest.mark.parametrize("path,value,message", [
    ("transformer_lm.norm_first", False, "norm_first"),
    ("transformer_lm.positional_embedding", "rope", "positional_embedding"),
    ("transformer_lm.layer_scale", 0.01, "layer_scale"),
    ("fuser.prepend", ["description"], "prepend"),
    ("codebooks_pattern.modeling", "musiclm", "musiclm"),
    ("conditioners.description.model", "clap", "clap"),
])
def test_unsupported_configs_are_refused(path, value, message):
    cfg = copy.deepcopy(_xp_cfg())
    node = cfg
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    with pytest.raises(AudiogenError, match=message):
        lm_config_from_xp_cfg(cfg)


def test_released_config_values():
    config = lm_config_from_xp_cfg(_xp_cfg())
    assert config.cfg_dropout == 0.1 and config.max_period == 10_000
    assert config.text.name == "t5-large"


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_file_reader_refuses_arbitrary_pickles(tmp_path):
    bad = tmp_path / "state_dict.bin"
    torch.save({"best_state": {}, "xp.cfg": "{}", "payload": _Evil()}, bad)
    with pytest.raises(AudiogenError, match="tensors-only"):
        import_audiocraft_lm(bad)
    with pytest.raises(AudiogenError, match="no such file"):
        import_audiocraft_lm(tmp_path / "missing.bin")


def test_imported_model_saves_and_loads(tmp_path):
    model, _ = import_audiocraft_lm(FIXTURES / "tiny_state_dict.bin", text_encoder_path="/t5")
    assert model.config.text.path == "/t5" and not model.config.cross_attention_mask
    model.save(tmp_path)
    loaded = AudioLM.load(tmp_path)
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_half_precision_release_is_stored_losslessly(tmp_path):
    """A float16 release: the model computes in float32, the directory keeps float16."""
    pkg = torch.load(FIXTURES / "tiny_state_dict.bin", weights_only=True)
    pkg["best_state"] = {k: v.half() for k, v in pkg["best_state"].items()}
    torch.save(pkg, tmp_path / "half.bin")
    computing = import_audiocraft_lm(tmp_path / "half.bin").model
    assert computing.heads[0].weight.dtype == torch.float32
    as_stored = import_audiocraft_lm(tmp_path / "half.bin", dtype=None).model
    assert as_stored.heads[0].weight.dtype == torch.float16
    as_stored.save(tmp_path / "out")
    stored = load_file(str(tmp_path / "out" / "lm.safetensors"))
    assert stored["heads.0.weight"].dtype == torch.float16
    loaded = AudioLM.load(tmp_path / "out")
    assert loaded.heads[0].weight.dtype == torch.float32
    for a, b in zip(loaded.state_dict().values(), computing.state_dict().values()):
        assert torch.equal(a, b)


def test_release_config_at_full_width_is_the_audiogen_medium_preset():
    cfg = copy.deepcopy(_xp_cfg())
    cfg["transformer_lm"]["dim"] = 1536
    assert lm_config_from_xp_cfg(cfg) == lm_preset("audiogen-medium")

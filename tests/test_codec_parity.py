"""Parity with the reference codec (audiocraft 1.3.0) through golden fixtures.

The fixtures are tiny codecs with random weights, saved by the reference in the release layout
(`compression_state_dict.bin`), and the reference's outputs on a test signal; they are written
by tools/make_codec_fixtures.py. Full preset shapes are checked by the same script
(`--check-presets`), which needs the reference environment.
"""

import pickle
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from audiogen.cli.main import main as cli_main
from audiogen.codec import PRESETS, Codec, CodecConfig, codec_preset
from audiogen.convert.checkpoint import read_checkpoint
from audiogen.convert.codec import (
    audiocraft_key_map,
    config_from_xp_cfg,
    import_audiocraft_codec,
    xp_cfg_from_config,
)
from audiogen.errors import AudiogenError

FIXTURES = Path(__file__).parent / "fixtures" / "codec"
CASES = ["tiny", "tiny-causal"]


def _fixture(case: str) -> tuple[Path, dict[str, torch.Tensor]]:
    return (FIXTURES / f"{case}.compression_state_dict.bin",
            load_file(str(FIXTURES / f"{case}.expected.safetensors")))


@pytest.mark.parametrize("case", CASES)
def test_encode_decode_match_reference(case):
    path, expected = _fixture(case)
    codec = import_audiocraft_codec(path)
    codes = codec.encode(expected["wav"])
    assert codes.dtype == torch.long
    assert torch.equal(codes, expected["codes"])
    decoded = codec.decode(expected["codes"])
    assert decoded.shape == expected["decoded"].shape
    assert (decoded - expected["decoded"]).abs().max().item() <= 1e-4
    audio = codec(expected["wav"]).audio
    assert (audio - expected["forward"]).abs().max().item() <= 1e-4


def test_fixture_is_in_release_layout_with_legacy_weight_norm():
    path, _ = _fixture("tiny")
    pkg = torch.load(path, map_location="cpu", weights_only=True)
    assert set(pkg) == {"best_state", "xp.cfg", "version", "exported"}
    assert isinstance(pkg["xp.cfg"], str) and "${" in pkg["xp.cfg"]  # unresolved, as released
    keys = set(pkg["best_state"])
    assert "encoder.model.0.conv.conv.weight_g" in keys
    assert "decoder.model.3.convtr.convtr.weight_v" in keys
    assert "quantizer.vq.layers.0._codebook.embed_avg" in keys
    assert any(".lstm.weight_ih_l1" in k for k in keys)
    assert path.stat().st_size < 1_000_000


def test_import_refuses_arbitrary_pickles(tmp_path):
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "compression_state_dict.bin"
    path.write_bytes(pickle.dumps({"best_state": {}, "xp.cfg": "", "x": Exploit()}, protocol=2))
    with pytest.raises(AudiogenError, match="tensors-only"):
        read_checkpoint(path)
    assert not marker.exists()


def test_import_refuses_unsupported_settings(tmp_path):
    _, cfg, _ = read_checkpoint(_fixture("tiny")[0])
    cfg["encodec"]["renormalize"] = True
    with pytest.raises(AudiogenError, match="renormalize"):
        config_from_xp_cfg(cfg)
    cfg["encodec"]["renormalize"] = False
    cfg["seanet"]["decoder"]["n_filters"] = 8  # a decoder-only override we cannot express
    with pytest.raises(AudiogenError, match="differ"):
        config_from_xp_cfg(cfg)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_xp_cfg_round_trip(name):
    config = codec_preset(name)
    text = yaml.safe_dump(xp_cfg_from_config(config))
    assert config_from_xp_cfg(yaml.safe_load(text)) == config


def test_key_map_covers_released_codec():
    """Every native tensor of the released shape has exactly one foreign source."""
    config = codec_preset("audiogen-16khz")
    native_keys = set(Codec(config).state_dict())
    targets = list(audiocraft_key_map(config).values())
    for key in native_keys:
        assert sum(key.startswith(t) for t in targets) == 1, key
    assert all(any(k.startswith(t) for k in native_keys) for t in targets)


def test_convert_cli_writes_loadable_directory(tmp_path, capsys):
    path, expected = _fixture("tiny")
    out = tmp_path / "model"
    with pytest.raises(SystemExit) as exit_:
        cli_main(["convert-audiocraft-codec", str(path), "-o", str(out)])
    assert exit_.value.code == 0
    assert "codec.json" in capsys.readouterr().out
    codec = Codec.load(out)
    assert isinstance(codec.config, CodecConfig)
    assert torch.equal(codec.encode(expected["wav"]), expected["codes"])


def test_convert_cli_bad_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "compression_state_dict.bin"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as exit_:
        cli_main(["convert-audiocraft-codec", str(bad), "-o", str(tmp_path / "m")])
    assert exit_.value.code == 2
    assert str(bad) in capsys.readouterr().err

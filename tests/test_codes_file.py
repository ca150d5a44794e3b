"""The codes file format: round trip, metadata, codec identity, damaged files."""

import pytest
import torch
from safetensors.torch import save_file

from audiogen.codec import Codec, CodecConfig
from audiogen.codec.codes_file import CodesFile, codec_identity, load_codes, save_codes
from audiogen.errors import AudiogenError


def tiny_codec(seed: int = 0) -> Codec:
    torch.manual_seed(seed)
    return Codec(CodecConfig(n_filters=4, ratios=[4, 2], dimension=8, lstm_layers=0,
                             n_q=2, bins=16)).eval()


def test_round_trip_keeps_codes_and_metadata(tmp_path):
    codec = tiny_codec()
    wav = torch.randn(1, 1, 100)
    codes = codec.encode(wav)
    path = save_codes(tmp_path / "x.codes", CodesFile.from_codec(codec, codes, 100))
    data = load_codes(path)
    assert torch.equal(data.codes, codes) and data.codes.dtype == torch.long
    assert (data.sample_rate, data.frame_rate, data.num_codebooks, data.cardinality,
            data.num_samples) == (16000, 2000.0, 2, 16, 100)
    assert data.codec_id == codec_identity(codec) and len(data.codec_id) == 16
    data.check_codec(codec)  # same codec: accepted


def test_identity_follows_weights_and_config():
    a, b = tiny_codec(0), tiny_codec(0)
    assert codec_identity(a) == codec_identity(b)
    with torch.no_grad():
        next(b.parameters()).view(-1)[0] += 1e-3
    assert codec_identity(a) != codec_identity(b)
    assert codec_identity(tiny_codec(1)) != codec_identity(a)


def test_identity_ignores_the_decoder():
    """The identity names the codes: a retrained or replaced decoder reads the same codes."""
    a = tiny_codec(0)
    b = tiny_codec(0)
    with torch.no_grad():
        next(b.decoder.parameters()).view(-1)[0] += 1e-3
    vocos = Codec(CodecConfig(n_filters=4, ratios=[4, 2], dimension=8, lstm_layers=0, n_q=2,
                              bins=16, decoder="vocos",
                              vocos={"dim": 8, "intermediate": 8, "layers": 1, "n_fft": 32}))
    vocos.load_state_dict({k: v for k, v in a.state_dict().items()
                           if not k.startswith("decoder.")}, strict=False)
    assert codec_identity(a) == codec_identity(b) == codec_identity(vocos)
    with torch.no_grad():
        next(b.encoder.parameters()).view(-1)[0] += 1e-3
    assert codec_identity(a) != codec_identity(b)


def test_mismatched_codec_is_refused(tmp_path):
    codec, other = tiny_codec(0), tiny_codec(1)
    path = save_codes(tmp_path / "x.codes",
                      CodesFile.from_codec(codec, codec.encode(torch.randn(1, 1, 64)), 64))
    with pytest.raises(AudiogenError, match="different codec.*codec id"):
        load_codes(path).check_codec(other, path)
    wider = Codec(CodecConfig(n_filters=4, ratios=[4, 2], dimension=8, lstm_layers=0,
                              n_q=3, bins=16))
    with pytest.raises(AudiogenError, match="codebooks 2 in the file, 3 in the codec"):
        load_codes(path).check_codec(wider, path)


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(AudiogenError, match="no such codes file"):
        load_codes(tmp_path / "missing.codes")
    garbage = tmp_path / "garbage.codes"
    garbage.write_bytes(b"not safetensors at all")
    with pytest.raises(AudiogenError, match="not a codes file"):
        load_codes(garbage)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"codes": torch.zeros(1, 2, 3, dtype=torch.int16)}, str(foreign))
    with pytest.raises(AudiogenError, match="not a codes file"):
        load_codes(foreign)
    out_of_range = tmp_path / "range.codes"
    meta = {"format": "audiogen-codes", "version": "1", "sample_rate": "16000",
            "frame_rate": "50.0", "num_codebooks": "2", "cardinality": "16",
            "codec_id": "0" * 16, "num_samples": "960"}
    save_file({"codes": torch.full((1, 2, 3), 16, dtype=torch.int16)}, str(out_of_range),
              metadata=meta)
    with pytest.raises(AudiogenError, match="damaged codes file"):
        load_codes(out_of_range)
    newer = tmp_path / "newer.codes"
    save_file({"codes": torch.zeros(1, 2, 3, dtype=torch.int16)}, str(newer),
              metadata=meta | {"version": "2"})
    with pytest.raises(AudiogenError, match="version 2 is not supported"):
        load_codes(newer)

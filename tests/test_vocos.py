"""The Vocos decoder head: shapes, the iSTFT's exact inversion, config and model directories,
starting from a trained codec with its codes kept, chunked decoding, overfitting one clip."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from test_codec_train import TINY, data_dir, tiny_config, write_clip  # noqa: F401 (fixture)
from tiny_model import tiny_codec_config, tiny_model_dir

from audiogen.api import AudioGen
from audiogen.codec import Codec, CodecConfig
from audiogen.codec.chunked import decode_chunked
from audiogen.codec.config import VocosConfig
from audiogen.codec.vocos import FrameISTFT, VocosDecoder
from audiogen.errors import AudiogenError
from audiogen.train.codec_trainer import CodecTrainConfig, CodecTrainer

ROOT = Path(__file__).parent.parent
DEFAULT_CODEC = ROOT / "audiogen" / "assets" / "default_model"
SMALL_VOCOS = {"dim": 16, "intermediate": 32, "layers": 2, "n_fft": 32}  # for TINY (hop 8)


def tiny_vocos_config(**vocos) -> CodecConfig:
    """The tiny test codec (hop 320) with a small Vocos head."""
    v = VocosConfig(dim=32, intermediate=64, layers=2, **vocos)
    return dataclasses.replace(tiny_codec_config(), decoder="vocos", vocos=v)


# --- shapes and the iSTFT --------------------------------------------------------------------

@pytest.mark.parametrize("frames", [1, 2, 3, 17])
def test_output_is_frames_times_hop(frames):
    torch.manual_seed(0)
    decoder = VocosDecoder(tiny_vocos_config())
    wav = decoder(torch.randn(2, 16, frames))
    assert wav.shape == (2, 1, frames * 320)
    assert torch.isfinite(wav).all()


@pytest.mark.parametrize("n_fft,hop,frames", [(1280, 320, 1), (1280, 320, 9), (64, 16, 5),
                                               (96, 16, 4)])
def test_istft_inverts_its_stft_exactly_edges_included(n_fft, hop, frames):
    """Synthesis of the analysis gives the signal back at every sample, the first and last
    hop included: each sample lies under whole windows only."""
    torch.manual_seed(1)
    istft = FrameISTFT(n_fft, hop)
    wav = torch.randn(3, 1, frames * hop)
    spec = istft.analysis(wav)
    assert spec.shape == (3, n_fft // 2 + 1, frames + 2 * istft.pad_frames)
    back = istft(spec)
    assert back.shape == wav.shape
    torch.testing.assert_close(back, wav, atol=1e-5, rtol=0)
    torch.testing.assert_close(back[..., :hop], wav[..., :hop], atol=1e-5, rtol=0)
    torch.testing.assert_close(back[..., -hop:], wav[..., -hop:], atol=1e-5, rtol=0)


def test_frame_is_centred_on_its_hop():
    """A spectrum that is non-zero in one frame only gives a window centred on sample
    f * hop + hop / 2 (the middle of the stretch that frame encodes)."""
    n_fft, hop, f = 1280, 320, 5
    istft = FrameISTFT(n_fft, hop)
    spec = torch.zeros(1, n_fft // 2 + 1, 12 + 2 * istft.pad_frames, dtype=torch.complex64)
    spec[0, 0, f + istft.pad_frames] = n_fft  # DC: the frame is the window itself
    wav = istft(spec)[0, 0]
    peak = f * hop + hop // 2
    assert wav.argmax().item() == peak
    torch.testing.assert_close(wav[peak - 100], wav[peak + 100])


def test_istft_layout_is_checked():
    with pytest.raises(ValueError, match="multiple of 2 x hop"):
        FrameISTFT(1000, 320)
    with pytest.raises(ValueError, match="multiple of 2 x hop"):
        dataclasses.replace(tiny_codec_config(), decoder="vocos",
                            vocos=VocosConfig(n_fft=960))


# --- config and model directories ------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    torch.manual_seed(2)
    codec = Codec(tiny_vocos_config()).eval()
    codec.save(tmp_path / "c")
    meta = json.loads((tmp_path / "c" / "codec.json").read_text())
    assert meta["config"]["decoder"] == "vocos"
    assert meta["config"]["vocos"] == {"dim": 32, "intermediate": 64, "layers": 2, "n_fft": 1280}
    loaded = Codec.load(tmp_path / "c")
    assert loaded.config == codec.config
    assert isinstance(loaded.decoder, VocosDecoder)
    codes = torch.randint(0, 16, (2, 4, 7))
    assert torch.equal(loaded.decode(codes), codec.decode(codes))
    wav = torch.randn(1, 1, 3000) * 0.1
    assert codec(wav).audio.shape == wav.shape


@pytest.mark.parametrize("directory", [DEFAULT_CODEC, *sorted(
    p.parent for p in (ROOT / "resume").glob("**/codec.json"))[:1]])
def test_old_codec_directories_load_unchanged(directory):
    """Files written before the decoder choice have no decoder key: SEANet, and written back
    the same way (so their identity, which hashes the config, is unchanged)."""
    saved = json.loads((directory / "codec.json").read_text())["config"]
    assert "decoder" not in saved
    codec = Codec.load(directory)
    assert codec.config.decoder == "seanet" and codec.config.vocos is None
    assert codec.config.to_dict() == saved


def test_converted_codec_loads_unchanged(tmp_path):
    from audiogen.convert.codec import import_audiocraft_codec
    codec = import_audiocraft_codec(ROOT / "tests" / "fixtures" / "codec" /
                                    "tiny.compression_state_dict.bin")
    codec.save(tmp_path / "c")
    saved = json.loads((tmp_path / "c" / "codec.json").read_text())["config"]
    assert "decoder" not in saved and "vocos" not in saved
    assert Codec.load(tmp_path / "c").config == codec.config


def _edit_config(directory: Path, edit) -> None:
    path = directory / "codec.json"
    meta = json.loads(path.read_text())
    edit(meta["config"])
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("edit,message", [
    (lambda c: c.update(decodr="vocos"), "unknown setting.*decodr"),
    (lambda c: c.pop("vocos"), "missing setting.*vocos"),
    (lambda c: c.update(decoder="hifigan"), "decoder must be one of"),
    (lambda c: c["vocos"].update(depth=3), "unknown setting.*depth"),
    (lambda c: c["vocos"].pop("n_fft"), "missing setting.*n_fft"),
    (lambda c: c.pop("decoder"), "vocos settings need decoder='vocos'"),
])
def test_damaged_decoder_settings_are_named(tmp_path, edit, message):
    Codec(tiny_vocos_config()).save(tmp_path / "c")
    _edit_config(tmp_path / "c", edit)
    with pytest.raises(AudiogenError, match=message):
        Codec.load(tmp_path / "c")


# --- training from a trained codec -----------------------------------------------------------

def test_init_from_copies_encoder_and_codebooks_and_keeps_the_codes(data_dir, tmp_path):  # noqa: F811
    CodecTrainer(tiny_config(data_dir, steps=2, loss_weights={"l1": 0.1, "mel": 2.0}),
                 tmp_path / "base").train(show_progress=False)
    base = Codec.load(tmp_path / "base" / "model")
    config = tiny_config(data_dir, steps=3, init_from=str(tmp_path / "base" / "model"),
                         train_decoder_only=True, loss_weights={"l1": 0.1, "mel": 2.0},
                         codec={"decoder": "vocos", "vocos": dict(SMALL_VOCOS)})
    trainer = CodecTrainer(config, tmp_path / "vocos")
    assert isinstance(trainer.codec.decoder, VocosDecoder)
    fresh = trainer.codec.state_dict()
    for name, value in base.state_dict().items():
        if not name.startswith("decoder."):
            assert torch.equal(value, fresh[name]), name
    start = {k: v.clone() for k, v in fresh.items()}
    trainer.train(show_progress=False)
    tuned = Codec.load(tmp_path / "vocos" / "model")
    assert tuned.config.decoder == "vocos"
    for name, value in tuned.state_dict().items():
        assert torch.equal(value, start[name]) == (not name.startswith("decoder.")), name
    wav = torch.randn(2, 1, 4000) * 0.1
    assert torch.equal(base.encode(wav), tuned.encode(wav))


def test_init_from_same_decoder_loads_everything(data_dir, tmp_path):  # noqa: F811
    CodecTrainer(tiny_config(data_dir, steps=1, loss_weights={"mel": 1.0}),
                 tmp_path / "base").train(show_progress=False)
    base = Codec.load(tmp_path / "base" / "model")
    trainer = CodecTrainer(tiny_config(data_dir, init_from=str(tmp_path / "base" / "model")),
                           tmp_path / "again")
    for name, value in base.state_dict().items():
        assert torch.equal(value, trainer.codec.state_dict()[name]), name


def test_init_from_refuses_other_encoder_settings(data_dir, tmp_path):  # noqa: F811
    CodecTrainer(tiny_config(data_dir, steps=1, loss_weights={"mel": 1.0}),
                 tmp_path / "base").train(show_progress=False)
    config = tiny_config(data_dir, init_from=str(tmp_path / "base" / "model"),
                         codec={**TINY, "n_q": 1, "decoder": "vocos"})
    with pytest.raises(AudiogenError, match="n_q: init_from=.* only codec.decoder"):
        CodecTrainer(config, tmp_path / "run")


def test_reference_config_refuses_a_vocos_codec():
    from audiogen.convert.codec import xp_cfg_from_config
    with pytest.raises(ValueError, match="SEANet decoder only"):
        xp_cfg_from_config(tiny_vocos_config())


# --- decoding in pieces ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def vocos_model(tmp_path_factory):
    """The tiny model with a Vocos codec (weights larger than at init, so audio is loud)."""
    directory = tiny_model_dir(tmp_path_factory.mktemp("vocos_model"))
    torch.manual_seed(3)
    codec = Codec(tiny_vocos_config())
    with torch.no_grad():
        for p in codec.decoder.parameters():
            p.normal_(0, 0.3)
    codec.save(directory)
    return AudioGen.from_pretrained(directory, device="cpu")


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_chunked_decode_equals_whole(vocos_model, chunk):
    codec = vocos_model.codec
    codes = torch.randint(0, codec.cardinality, (2, codec.num_codebooks, 61))
    whole = codec.decode(codes)
    assert whole.abs().max() > 1e-2
    torch.testing.assert_close(decode_chunked(codec, codes, chunk), whole, atol=1e-6, rtol=0)


def test_stream_equals_generate(vocos_model):
    """Streaming generation (past the 1 s window) joins to what `generate` returns."""
    kwargs = {"duration": 2.3, "seed": 5}
    ref, _ = vocos_model.generate(["a dog barks"], **kwargs)
    out = torch.cat(list(vocos_model.generate_stream(["a dog barks"], chunk_duration=0.1,
                                                     **kwargs)), dim=-1)
    assert out.shape == ref.shape == (1, 1, round(2.3 * 16000))
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)


# --- learning --------------------------------------------------------------------------------

def test_overfit_one_clip_lowers_mel_distance(tmp_path):
    """A small Vocos head on a frozen (random) codec's codes of one 1 s clip: 200 decoder-only
    steps on reconstruction losses bring that clip's multi-scale mel distance under 40% of its
    start (measured: 1.44 -> 0.32, 8 s)."""
    (tmp_path / "data").mkdir()
    write_clip(tmp_path / "data" / "clip.wav", 1.0)
    torch.manual_seed(0)
    Codec(tiny_codec_config()).save(tmp_path / "base")
    config = CodecTrainConfig(
        data=str(tmp_path / "data"), init_from=str(tmp_path / "base"), train_decoder_only=True,
        codec={"decoder": "vocos", "vocos": {"dim": 64, "intermediate": 128, "layers": 2}},
        batch_size=1, steps=200, lr=1e-3, loss_weights={"l1": 0.1, "mel": 2.0},
        valid_clips=1, validate_every=200, checkpoint_every=200)
    trainer = CodecTrainer(config, tmp_path / "run")
    before = trainer.validate()["mel_distance"]
    after = trainer.train(show_progress=False)["mel_distance"]
    assert after < 0.4 * before, (before, after)

"""Chunked codec decoding (audiogen.codec.chunked) equals whole-signal decoding.

Tolerance: max |chunked - whole| <= 1e-6 on outputs of peak ~0.2 (measured: <= 1.2e-7 on these
random-weight codecs, float32 CPU): the pieces are exact, only float rounding differs.
"""

import pytest
import torch

from audiogen.codec import Codec, CodecConfig
from audiogen.codec.chunked import StreamingDecoder, decode_chunked, decoder_reach
from audiogen.codec.config import VocosConfig

TOL = 1e-6

CONFIGS = {
    "lstm2": CodecConfig(n_filters=4, dimension=16, lstm_layers=2, n_q=4, bins=32,
                         kmeans_init=False),
    "no-lstm": CodecConfig(n_filters=4, dimension=16, lstm_layers=0, n_q=4, bins=32,
                           kmeans_init=False),
    "reflect": CodecConfig(n_filters=4, dimension=16, lstm_layers=1, n_q=2, bins=32,
                           kmeans_init=False, pad_mode="reflect"),
    "causal": CodecConfig(n_filters=4, dimension=16, lstm_layers=1, n_q=2, bins=32,
                          kmeans_init=False, causal=True),
    "odd-ratios": CodecConfig(n_filters=4, ratios=[5, 3, 3], dimension=16, lstm_layers=1,
                              n_q=2, bins=32, kmeans_init=False),
    "vocos": CodecConfig(n_filters=4, dimension=16, lstm_layers=0, n_q=4, bins=32,
                         kmeans_init=False, decoder="vocos",
                         vocos=VocosConfig(dim=32, intermediate=64, layers=2)),
}


def _codec(name: str) -> Codec:
    torch.manual_seed(0)
    codec = Codec(CONFIGS[name]).eval()
    if name == "vocos":  # weights larger than Vocos' init (std 0.02): at that init the
        # farthest frames of the reach weigh ~1e-9 and the reach test would test nothing
        with torch.no_grad():
            for p in codec.decoder.parameters():
                p.normal_(0, 0.3)
    return codec


def _codes(codec: Codec, frames: int, batch: int = 2) -> torch.Tensor:
    return torch.randint(0, codec.cardinality, (batch, codec.num_codebooks, frames))


def _pieces(decoder: StreamingDecoder, codes: torch.Tensor, sizes) -> torch.Tensor:
    out, at = [], 0
    with torch.no_grad():
        for n in sizes:
            out.append(decoder.push(codes[..., at:at + n]))
            at += n
        assert at == codes.shape[-1]
        out.append(decoder.flush())
    return torch.cat(out, dim=-1)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("chunk", [1, 6, 200])
def test_chunked_equals_whole(name, chunk):
    codec = _codec(name)
    codes = _codes(codec, 37)
    whole = codec.decode(codes)
    out = decode_chunked(codec, codes, chunk)
    assert out.shape == whole.shape == (2, 1, 37 * codec.hop_length)
    assert (out - whole).abs().max() <= TOL
    assert whole.abs().max() > 1e-2  # the comparison is not between two silences


def test_uneven_pieces_and_empty_pushes():
    codec = _codec("lstm2")
    codes = _codes(codec, 40)
    out = _pieces(StreamingDecoder(codec), codes, [0, 1, 0, 2, 9, 0, 3, 25, 0])
    assert (out - codec.decode(codes)).abs().max() <= TOL


@pytest.mark.parametrize("name", ["lstm2", "vocos"])
def test_samples_come_out_once_and_as_soon_as_final(name):
    codec = _codec(name)
    (_, head_right), (_, tail_right) = decoder_reach(codec.decoder)
    decoder = StreamingDecoder(codec)
    codes = _codes(codec, 30)
    with torch.no_grad():
        first = decoder.push(codes[..., :20])
    # audio of frame t needs frames up to t + head_right + tail_right
    assert first.shape[-1] == (20 - head_right - tail_right) * codec.hop_length


@pytest.mark.parametrize("name,stage,error", [
    ("lstm2", "head", 1e-3), ("lstm2", "tail", 1e-3),
    ("vocos", "tail", 1e-6)])  # Vocos: its farthest frame only reaches in through a chain of
# outermost conv taps and a Hann window's tail (measured 1e-5; float rounding: 1e-8)
def test_less_context_than_the_reach_is_not_exact(name, stage, error):
    """The reach is needed: with one frame less of right context, pieces no longer join."""
    codec = _codec(name)
    codes = _codes(codec, 40)
    decoder = StreamingDecoder(codec)
    setattr(decoder, f"{stage}_right", getattr(decoder, f"{stage}_right") - 1)
    out = _pieces(decoder, codes, [5] * 8)
    assert (out - codec.decode(codes)).abs().max() > error


@pytest.mark.parametrize("name", ["lstm2", "vocos"])
def test_memory_stays_bounded(name):
    codec = _codec(name)
    decoder = StreamingDecoder(codec)
    codes = _codes(codec, 400, batch=1)
    kept = []
    with torch.no_grad():
        for i in range(0, 400, 10):
            decoder.push(codes[..., i:i + 10])
            kept.append((decoder.latent.shape[-1], decoder.feat.shape[-1]))
    # buffers hold one piece plus context, not the whole signal
    (head_left, head_right), (tail_left, tail_right) = decoder_reach(codec.decoder)
    assert max(max(k) for k in kept) <= 10 + max(head_left + head_right, tail_left + tail_right)


def test_misuse_is_refused():
    codec = _codec("no-lstm")
    decoder = StreamingDecoder(codec)
    with pytest.raises(ValueError):
        decoder.flush()  # nothing pushed
    decoder = StreamingDecoder(codec)
    with torch.no_grad():
        decoder.push(_codes(codec, 3))
        decoder.flush()
    with pytest.raises(RuntimeError):
        decoder.push(_codes(codec, 3))
    with pytest.raises(ValueError):
        decode_chunked(codec, _codes(codec, 3), 0)

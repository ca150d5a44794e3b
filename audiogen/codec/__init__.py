"""The EnCodec-style codec: waveform [B, 1, T] <-> codes [B, K, F].

    from audiogen.codec import Codec, codec_preset
    codec = Codec(codec_preset("small"))          # or Codec.load("models/my-codec")
    codes = codec.encode(wav)                     # [B, K, ceil(T / hop_length)]
    audio = codec.decode(codes)                   # [B, 1, F * hop_length]
"""

from audiogen.codec.config import CodecConfig
from audiogen.codec.model import Codec, CodecOutput
from audiogen.codec.presets import PRESETS, codec_preset

__all__ = ["PRESETS", "Codec", "CodecConfig", "CodecOutput", "codec_preset"]

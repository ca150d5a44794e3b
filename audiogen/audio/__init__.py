from audiogen.audio.io import (
    convert_channels,
    load_audio,
    loudness_normalize,
    peak_normalize,
    resample,
    rms_db,
    save_audio,
)

__all__ = [
    "convert_channels",
    "load_audio",
    "loudness_normalize",
    "peak_normalize",
    "resample",
    "rms_db",
    "save_audio",
]

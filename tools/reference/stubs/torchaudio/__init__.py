"""Stand-in for torchaudio, so the audiocraft package imports without it.

`functional.resample` uses julius (an audiocraft dependency); `transforms` builds mel
spectrograms from torch.stft so audiocraft's loss modules can be constructed if needed.
"""
from . import functional, transforms  # noqa: F401

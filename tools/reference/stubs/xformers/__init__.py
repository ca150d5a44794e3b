"""Stand-in for xformers, so the audiocraft package imports on torch 2.13 (CPU).

Only what audiocraft touches at import time or on its torch attention path exists here;
audiocraft's default attention backend is torch SDPA, so these stand-ins change no numbers.
"""
from . import ops  # noqa: F401

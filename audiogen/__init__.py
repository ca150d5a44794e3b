"""audiogen: AudioGen (Kreuk et al., ICLR 2023), textually guided audio generation.

Shape convention used throughout the package:
    waveforms  [B, C, T]  batch, channels (1 for the codec), samples
    codes      [B, K, F]  batch, codebooks (streams), frames
    latents    [B, D, F]  batch, latent dimension, frames
"""

__version__ = "0.1.0"

from audiogen.default_model import default_model_dir

__all__ = ["__version__", "default_model_dir"]

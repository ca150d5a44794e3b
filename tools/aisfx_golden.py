"""Golden aiSFX embeddings from the `aisfx` package's own code (its Essentia path).

Run once, in a throwaway environment that has `essentia` and `torch` (and NOT needed by the
project): it writes a synthetic test clip and the package's block embeddings for it, which
tests/test_eval_embedders.py compares with audiogen's re-implementation.

    python -m venv /tmp/aisfx_ref && /tmp/aisfx_ref/bin/pip install essentia==2.1b6.dev1389 torch
    pip download --no-deps aisfx==0.1.2 && unzip aisfx-0.1.2-*.whl -d /tmp/aisfx_pkg
    PYTHONPATH=/tmp/aisfx_pkg /tmp/aisfx_ref/bin/python tools/aisfx_golden.py tests/fixtures/eval

The package's checkpoint loader calls torch.load with full unpickling; here it is read with
the weights-only unpickler (numpy scalars allowed), then handed to the package's model code.
"""

import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def make_clip(path: Path, seconds: float = 3.5, sr: int = 44100) -> None:
    rng = np.random.default_rng(1234)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * (200 * t + 400 * t**2))  # chirp
    x += 0.1 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 1.5 * t) > 0.3)  # noise bursts
    x += 0.2 * np.sin(2 * np.pi * 880 * t) * np.exp(-3 * (t % 1.0))  # decaying tone
    sf.write(str(path), (0.8 * x).astype(np.float32), sr, subtype="PCM_16")


def main(out: Path) -> None:
    import aisfx.inference as inf
    from aisfx.preprocessing import spectrogram_normalize
    from aisfx.spectrogram import spectrogram_essentia

    out.mkdir(parents=True, exist_ok=True)
    clip = out / "aisfx_clip.wav"
    make_clip(clip)
    scalar = np._core.multiarray.scalar
    with torch.serialization.safe_globals([(scalar, "numpy.core.multiarray.scalar"), np.dtype,
                                           np.dtypes.Int64DType]):
        weights, ds_dict = torch.load(inf.get_path_modelWeights(), map_location="cpu",
                                      weights_only=True)
    model = inf.load_bestModel(weights, ds_dict, "cpu")
    spec = spectrogram_essentia.compute_spectrogram(
        filename=str(clip), sr=inf.SAMPLE_RATE, block_size=inf.SPEC_BLOCK_LENGTH,
        hop_size=inf.SPEC_HOP_LENGTH, n_mels=inf.MEL_BINS, f_min=inf.F_MIN, f_max=inf.F_MAX)
    spec = spectrogram_normalize(spec, spec_norm="original")
    emb = inf.model_get_embedding(spec, 0.5, True, model, "cpu").numpy().astype(np.float32)
    np.save(out / "aisfx_clip_embeddings.npy", emb)
    print(f"{clip}: spectrogram {spec.shape}, embeddings {emb.shape}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""Golden fixtures for the codec training parts, made with the reference (audiocraft 1.3.0).

    tools/reference/python_ref tools/make_codec_train_fixtures.py

Writes tests/fixtures/codec_train/reference.safetensors, which tests/test_codec_train_parts.py
checks without audiocraft:
  - an MS-STFT discriminator (filters 4, the EnCodec paper's five scales) with random weights, in
    the reference's parameter names (`ref.disc.*`), an input `disc.input` [2, 1, 4000], and
    the reference's logits (`disc.logits.{i}`) and the sum of each feature map
    (`disc.fmap_sums` [5, 5]);
  - three balancer steps (`balancer.*`): inputs, the fixed loss coefficient, and the
    gradient the reference's Balancer sends into the model at each step.
The stand-in torchaudio has no Spectrogram, so one is provided here: torch.stft with the Hann
window, center=False, complex output, divided by the window's L2 norm (torchaudio's
normalized=True), which is what torchaudio computes.
"""

from pathlib import Path

import torch
import torchaudio
from safetensors.torch import save_file
from torch import nn

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "codec_train"
N_FFTS = [1024, 2048, 512, 256, 128]
BALANCER_WEIGHTS = {"a": 4.0, "b": 0.1, "c": 2.0}


class Spectrogram(nn.Module):
    def __init__(self, n_fft, hop_length, win_length, window_fn, normalized, center, pad_mode,
                 power):
        super().__init__()
        assert normalized is True and center is False and power is None
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", window_fn(win_length))

    def forward(self, x):
        lead = x.shape[:-1]
        spec = torch.stft(x.reshape(-1, x.shape[-1]), self.n_fft, self.hop_length,
                          window=self.window, center=False, return_complex=True)
        spec = spec / self.window.pow(2).sum().sqrt()
        return spec.reshape(*lead, *spec.shape[-2:])


def balancer_losses(y, c):
    return {"a": (y * c).sum(), "b": (y ** 2).mean(), "c": y.abs().sum() * 10}


def main() -> None:
    torchaudio.transforms.Spectrogram = Spectrogram
    from audiocraft.adversarial.discriminators.msstftd import MultiScaleSTFTDiscriminator
    from audiocraft.losses.balancer import Balancer

    torch.manual_seed(0)
    tensors = {}
    disc = MultiScaleSTFTDiscriminator(filters=4, n_ffts=N_FFTS,
                                       hop_lengths=[n // 4 for n in N_FFTS], win_lengths=N_FFTS)
    with torch.no_grad():  # move the weights off their initialisation
        for p in disc.parameters():
            p.add_(0.05 * torch.randn_like(p))
    for k, v in disc.state_dict().items():
        if "spec_transform" not in k:
            tensors[f"ref.disc.{k}"] = v.contiguous()
    x = torch.randn(2, 1, 4000)
    logits, fmaps = disc(x)
    tensors["disc.input"] = x
    for i, logit in enumerate(logits):
        tensors[f"disc.logits.{i}"] = logit.detach().contiguous()
    tensors["disc.fmap_sums"] = torch.tensor([[f.sum().item() for f in fm] for fm in fmaps])

    balancer = Balancer(BALANCER_WEIGHTS, ema_decay=0.999)
    c = torch.randn(3, 1, 200)
    tensors["balancer.c"] = c
    for step in range(3):
        y0 = torch.randn(3, 1, 200) * (step + 1)
        leaf = y0.clone().requires_grad_(True)
        y = leaf * 1.0
        balancer.backward(balancer_losses(y, c), y)
        tensors[f"balancer.input.{step}"] = y0
        tensors[f"balancer.grad.{step}"] = leaf.grad

    OUT.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(OUT / "reference.safetensors"),
              metadata={"made_by": "tools/make_codec_train_fixtures.py", "audiocraft": "1.3.0"})
    print(f"wrote {OUT / 'reference.safetensors'}")


if __name__ == "__main__":
    main()

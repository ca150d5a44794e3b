"""Golden fixtures for codec parity with the reference (audiocraft 1.3.0).

Runs in the reference environment (audiogen's own dependencies are there too):

    tools/reference/python_ref tools/make_codec_fixtures.py              # write the fixtures
    tools/reference/python_ref tools/make_codec_fixtures.py --check-presets small audiogen-16khz

The first form builds audiocraft's `EncodecModel` at tiny shapes with random weights and writes,
per case, into tests/fixtures/codec/:
  {case}.compression_state_dict.bin   the release layout: {"best_state", "xp.cfg" (YAML string,
                                       interpolations unresolved), "version", "exported"}, with
                                       legacy weight-norm keys (`weight_g` / `weight_v`)
  {case}.expected.safetensors         `wav` [1, 1, T] input, `codes` [1, K, F] from encode,
                                       `decoded` [1, 1, F * hop] from decode(codes),
                                       `forward` [1, 1, T] from the eval-mode forward pass
tests/test_codec_parity.py then checks audiogen's importer and codec against them without
audiocraft. The second form does the same at full preset shapes in memory (too large to
commit) and prints the comparison.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
from pathlib import Path

import audiocraft
import torch
from audiocraft.models import builders
from omegaconf import OmegaConf
from safetensors.torch import save_file

from audiogen.codec import Codec, CodecConfig, codec_preset
from audiogen.convert.codec import import_audiocraft_codec, xp_cfg_from_config

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "codec"

# tiny shapes that exercise every mapping path: several residual units (dilations), 1 or 2 LSTM
# layers, odd strides (asymmetric padding), causal + reflect, a 1x1 shortcut (true_skip False),
# a decoder-only override (trim_right_ratio), an input length that is not a multiple of the hop
CASES = {
    "tiny": (CodecConfig(n_filters=4, ratios=[4, 2], dimension=16, n_residual_layers=2,
                         lstm_layers=2, n_q=3, bins=32), 1003),
    "tiny-causal": (CodecConfig(n_filters=4, ratios=[3, 2], dimension=8, n_residual_layers=1,
                                lstm_layers=1, causal=True, pad_mode="reflect", true_skip=False,
                                trim_right_ratio=0.5, n_q=2, bins=16), 601),
}


def test_signal(length: int, sample_rate: int, seed: int) -> torch.Tensor:
    """A deterministic sound-like input [1, 1, T]: two tones, a chirp and noise, ~0.3 peak."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / sample_rate
    x = 0.1 * torch.sin(2 * math.pi * 220 * t) + 0.05 * torch.sin(2 * math.pi * 1750 * t)
    x = x + 0.05 * torch.sin(2 * math.pi * (300 + 2000 * t) * t)
    x = x + 0.03 * torch.randn(length, generator=g)
    return x.view(1, 1, -1)


def build_reference(config: CodecConfig, seed: int, probe: torch.Tensor):
    """Audiocraft's EncodecModel at this shape with random weights and usable codebooks.

    Weight-norm magnitudes and biases are randomised (so a mapping mistake shows); codebooks
    are latent vectors of `probe` (a signal other than the test input) plus noise, stage by
    stage on the residual, so that codes are diverse and the input's nearest codes are not
    near-ties (which float rounding could break either way).
    """
    torch.manual_seed(seed)
    cfg = OmegaConf.create(xp_cfg_from_config(config))
    model = builders.get_compression_model(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(0.5 + torch.rand(p.shape, generator=g))
            elif name.endswith("bias"):
                p.uniform_(-0.1, 0.1, generator=g)
        residual = model.encoder(probe).transpose(1, 2).reshape(-1, config.dimension)
        for layer in model.quantizer.vq.layers:
            book = layer._codebook
            pick = torch.randint(0, residual.shape[0], (config.bins,), generator=g)
            noise = torch.randn(config.bins, config.dimension, generator=g)
            embed = residual[pick] + 0.3 * residual.std() * noise
            book.embed.copy_(embed)
            book.embed_avg.copy_(embed)
            book.cluster_size.copy_(torch.rand(config.bins, generator=g) * 10)
            book.inited.fill_(1.0)
            residual = residual - book.decode(book.encode(residual))
    return model.eval(), OmegaConf.to_yaml(cfg)


def write_release_file(model, xp_cfg: str, path: Path) -> None:
    """Save in the layout of the released compression_state_dict.bin."""
    pkg = {"best_state": model.state_dict(), "xp.cfg": xp_cfg,
           "version": audiocraft.__version__, "exported": True}
    torch.save(pkg, path)


@torch.no_grad()
def reference_outputs(model, wav: torch.Tensor) -> dict[str, torch.Tensor]:
    codes, scale = model.encode(wav)
    assert scale is None  # renormalize is off, as in the release
    return {"wav": wav, "codes": codes, "decoded": model.decode(codes),
            "forward": model(wav).x}


def write_fixtures() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for seed, (case, (config, length)) in enumerate(CASES.items()):
        wav = test_signal(length, config.sample_rate, seed)
        probe = test_signal(4 * length, config.sample_rate, seed + 100)
        model, xp_cfg = build_reference(config, seed, probe)
        assert any(k.endswith("weight_g") for k in model.state_dict()), "expected legacy keys"
        write_release_file(model, xp_cfg, FIXTURES / f"{case}.compression_state_dict.bin")
        out = {k: v.contiguous() for k, v in reference_outputs(model, wav).items()}
        save_file(out, str(FIXTURES / f"{case}.expected.safetensors"))
        print(f"{case}: codes {tuple(out['codes'].shape)}, "
              f"{len(set(out['codes'].flatten().tolist()))} distinct codes")


@torch.no_grad()
def check_preset(name: str, seconds: float) -> bool:
    """Reference vs audiogen at a full preset shape, through a release-format file."""
    config = dataclasses.replace(codec_preset(name))
    wav = test_signal(int(seconds * config.sample_rate), config.sample_rate, 0)
    model, xp_cfg = build_reference(config, 0, test_signal(wav.shape[-1], config.sample_rate, 1))
    ref = reference_outputs(model, wav)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "compression_state_dict.bin"
        write_release_file(model, xp_cfg, path)
        ours: Codec = import_audiocraft_codec(path)
    codes = ours.encode(wav)
    same = (codes == ref["codes"]).float().mean().item()
    dec = (ours.decode(ref["codes"]) - ref["decoded"]).abs().max().item()
    fwd = (ours(wav).audio - ref["forward"]).abs().max().item()
    n_params = sum(p.numel() for p in ours.parameters())
    ok = same == 1.0 and dec <= 1e-4 and fwd <= 1e-4
    print(f"{name} ({n_params / 1e6:.1f}M params, {seconds:g} s input): identical codes "
          f"{same * 100:.2f}% of {codes.numel()}, decode max abs diff {dec:.2e}, "
          f"forward max abs diff {fwd:.2e} (peak {ref['decoded'].abs().max().item():.2f}) "
          f"-> {'OK' if ok else 'MISMATCH'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-presets", nargs="*", metavar="PRESET",
                        help="compare at these full preset shapes instead of writing fixtures")
    parser.add_argument("--seconds", type=float, default=5.0, help="input length for presets")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.check_presets is None:
        write_fixtures()
        return 0
    results = [check_preset(n, args.seconds) for n in args.check_presets or ["small"]]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

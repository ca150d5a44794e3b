"""Check audiogen.eval.passt against hear21passt and write the parity fixtures of its test.

Runs in a separate venv that has the reference package (never the project's .venv):

    python3 -m venv /work/passtref
    echo /work/main/.venv/lib/python3.11/site-packages > \\
        /work/passtref/lib/python3.11/site-packages/mainvenv.pth       # torch 2.13 CPU, numpy
    /work/passtref/bin/pip install --no-deps hear21passt==0.0.26 torchaudio==2.11.0
    # torchaudio 2.11's wheel links CUDA libraries that a CPU torch lacks: move its lib/*.so
    # away; kaldi.get_mel_banks (the only part PaSST's eval path calls) is pure Python.
    # hear21passt imports timm only for a download helper, never called with
    # pretrained=False: a stand-in package `timm.models._hub.download_cached_file` will do.
    /work/passtref/bin/python tools/passt_reference.py [--full] [--write-fixtures]

No checkpoint can be downloaded, so both sides get the same random weights: the reference
network is built with pretrained=False, every parameter is overwritten with seeded values
(LayerNorm gains near 1, non-zero biases, so a swapped or skipped parameter shows), its
state dict is saved in the released checkpoints' layout, and the port loads that file.

--full            PaSST-S at full size (768 wide, 12 blocks, 12 heads) on 10 s and 3.3 s of
                  audio: prints max abs differences (docs/parity.md's numbers).
--write-fixtures  a reduced model (64 wide, 2 blocks, 4 heads, 527 labels; float16 values)
                  and the reference's outputs on two clips, to tests/fixtures/passt/, for
                  tests/test_eval_passt.py (which needs no reference package).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures" / "passt"
SR = 32000


def reference_model(embed_dim: int, depth: int, heads: int):
    """hear21passt's get_basic_model(mode="all") with random weights; full size through its
    own get_model("passt_s_swa_p16_128_ap476"), a reduced one through the same class."""
    from hear21passt.models.passt import PaSST, get_model
    from hear21passt.models.preprocess import AugmentMelSTFT
    from hear21passt.wrapper import PasstBasicWrapper

    # the same arguments as hear21passt.base.get_basic_model and get_model's defaults
    mel = AugmentMelSTFT(n_mels=128, sr=SR, win_length=800, hopsize=320, n_fft=1024, freqm=48,
                         timem=192, htk=False, fmin=0.0, fmax=None, norm=1, fmin_aug_range=10,
                         fmax_aug_range=2000)
    if (embed_dim, depth, heads) == (768, 12, 12):
        net = get_model(arch="passt_s_swa_p16_128_ap476", pretrained=False, fstride=10,
                        tstride=10, input_fdim=128, input_tdim=998)
        return PasstBasicWrapper(mel=mel, net=net, mode="all").eval()
    net = PaSST(img_size=(128, 998), patch_size=16, stride=(10, 10), in_chans=1,
                num_classes=527, embed_dim=embed_dim, depth=depth, num_heads=heads,
                mlp_ratio=4.0, qkv_bias=True, distilled=True)
    return PasstBasicWrapper(mel=mel, net=net, mode="all").eval()


def randomise(net: torch.nn.Module, seed: int, half: bool) -> dict[str, torch.Tensor]:
    """Overwrite every parameter with seeded values; returns the state dict to save."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, p in sorted(net.named_parameters()):
        noise = torch.randn(p.shape, generator=gen)
        if name.endswith("bias"):
            value = 0.1 * noise
        elif "norm" in name or name == "head.0.weight":  # LayerNorm gains
            value = 1.0 + 0.2 * noise
        elif p.dim() >= 2 and "pos_embed" not in name and "token" not in name:
            value = noise / math.sqrt(p[0].numel())  # unit-variance outputs
            if name == "head.1.weight":
                value = 3.0 * value  # spread logits: softmax far from uniform
        else:  # tokens and position embeddings
            value = 0.5 * noise
        if half:
            value = value.half().float()  # exactly what a float16 file holds
        with torch.no_grad():
            p.copy_(value)
        state[name] = value.half() if half else value.clone()
    return state


def signal(seconds: float, seed: int) -> torch.Tensor:
    """A deterministic test clip [T]: two chirps, a click train and noise."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SR)) / SR
    x = 0.3 * torch.sin(2 * math.pi * (200 + 900 * t) * t)
    x += 0.2 * torch.sin(2 * math.pi * (5000 - 300 * t) * t)
    x += 0.4 * ((t * 7) % 1 < 0.01).float()
    return (x + 0.05 * torch.randn(t.shape, generator=gen)).clamp(-1, 1)


@torch.no_grad()
def reference_outputs(model, wav: torch.Tensor) -> dict[str, torch.Tensor]:
    out = model(wav.unsqueeze(0))[0]
    n = 527
    return {"mel": model.mel(wav.unsqueeze(0))[0], "logits": out[:n], "features": out[n:]}


@torch.no_grad()
def port_outputs(path: Path, wav: torch.Tensor, heads: int) -> dict[str, torch.Tensor]:
    from audiogen.eval.passt import Passt

    passt = Passt.from_path(path, num_heads=heads)
    logits, features = passt.forward_segments(wav.unsqueeze(0))
    return {"mel": passt.frontend(wav.unsqueeze(0))[0], "logits": logits[0],
            "features": features[0], "probabilities": passt.probabilities(wav.unsqueeze(0)),
            "tag_probabilities": passt.tag_probabilities(wav.unsqueeze(0))}


def compare(ref: dict, port: dict) -> dict[str, float]:
    diffs = {k: float((ref[k] - port[k]).abs().max()) for k in ("mel", "logits", "features")}
    diffs["softmax"] = float((torch.softmax(ref["logits"], -1) - port["probabilities"]).abs().max())
    diffs["sigmoid"] = float((torch.sigmoid(ref["logits"]) - port["tag_probabilities"]).abs().max())
    diffs["softmax_max"] = float(port["probabilities"].max())  # how far from uniform (1/527)
    return diffs


def full_parity(tmp: Path) -> None:
    model = reference_model(768, 12, 12)
    randomise(model.net, seed=0, half=False)
    path = tmp / "passt_full_random.pt"
    torch.save(model.net.state_dict(), path)
    for seconds in (10.0, 3.3):
        wav = signal(seconds, seed=1)
        diffs = compare(reference_outputs(model, wav), port_outputs(path, wav, heads=12))
        print(json.dumps({"model": "PaSST-S 768x12, random weights", "seconds": seconds,
                          **{k: f"{v:.3g}" for k, v in diffs.items()}}))


def write_fixtures() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    model = reference_model(64, 2, 4)
    state = randomise(model.net, seed=0, half=True)
    weights = FIXTURES / "tiny_passt.pt"
    torch.save(state, weights)
    clips = {"a": signal(2.5, seed=1).half().float(), "b": signal(0.6, seed=2).half().float()}
    out = {"heads": 4}
    for key, wav in clips.items():
        ref = reference_outputs(model, wav)
        print(json.dumps({"model": "tiny 64x2x4", "clip": key,
                          **{k: f"{v:.3g}" for k, v in
                             compare(ref, port_outputs(weights, wav, heads=4)).items()}}))
        out[key] = {"audio": wav.half(), **ref}
    torch.save(out, FIXTURES / "reference_outputs.pt")
    for f in (weights, FIXTURES / "reference_outputs.pt"):
        print(f"{f.relative_to(ROOT)}: {f.stat().st_size / 1024:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--write-fixtures", action="store_true")
    parser.add_argument("--tmp", default="/tmp", help="where the full-size random checkpoint goes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.write_fixtures:
        write_fixtures()
    if args.full:
        full_parity(Path(args.tmp))


if __name__ == "__main__":
    main()

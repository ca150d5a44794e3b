"""The first run on a GPU machine: does every CUDA path of audiogen work? (bench/gpu_check.sh)

One line per check, `PASS`, `FAIL` or `SKIP`, with its time and what it measured:

  fast-parity    FastDecoder on CUDA against the plain LM on CUDA, greedy: float32 with CUDA
                 graphs gives identical tokens; bfloat16 with CUDA graphs agrees on >= 97% of
                 teacher-forced argmaxes; a second generation of the same shape replays the
                 kept graph (no new capture)
  generate       AudioGen.from_pretrained(default model) on CUDA (bfloat16 + CUDA graphs by
                 default), 2 prompts x 5 s: finite audio, real-time factor of the second call
  lm-train-bf16  5 LM training steps (tiny model, token cache), precision bf16: finite losses
  lm-train-fp16  the same in fp16 (loss scaling)
  codec-train    5 codec training steps (tiny codec with an LSTM, adversarial losses on), bf16:
                 finite losses, the layers in bfloat16, the weights in float32
  ddp            2 processes (torchrun, NCCL), 3 LM steps; skipped with fewer than 2 GPUs
  bench          bench/generate.py --gpu --quick (the released medium shape against the
                 reference); skipped without the reference environment (.venv-ref)

--dry-run runs on any machine: each check prints what it would do, then runs its own code on
the CPU at a tiny size (files present, imports, configurations and command lines parse, the
check's logic works; the CUDA-only parts fall back as they do on a CPU: no graphs, no autocast,
float32 attention). Exit status: the number of failed checks (0: all passed or skipped).
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the tests' tiny corpus and models
REFERENCE_PYTHON = ROOT / "tools" / "reference" / "python_ref"
TRAIN_STEPS = 5


class Skip(Exception):
    """The check does not apply on this machine (the reason is printed)."""


def _device(dry: bool):
    """CUDA, or the CPU in a dry run."""
    import torch

    if dry:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device visible (run with --dry-run on a CPU)")
    return torch.device("cuda")


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _say(dry: bool, plan: str) -> None:
    if dry:
        print(f"     would: {plan}", flush=True)


# ------------------------------------------------------------------ checks
def check_fast_parity(dry: bool) -> str:
    import torch

    from audiogen.api import AudioGen
    from audiogen.default_model import default_model_dir
    from audiogen.generation import decode
    from audiogen.generation.fast import FastDecoder
    from audiogen.lm.sampling import SamplingParams

    directory = default_model_dir()
    seconds = 0.4 if dry else 2.0
    _say(dry, f"load {directory} on CUDA (plain LM, float32), decode 2 prompts x 2 s greedily "
         "with FastDecoder float32 + CUDA graphs (tokens identical to the plain LM's) and "
         "bfloat16 + CUDA graphs (>= 97% teacher-forced agreement)")
    device = _device(dry)
    model = AudioGen.from_pretrained(directory, device=device, fast=False)
    lm = model.lm
    greedy = SamplingParams(temperature=0.0)
    cond = lm.text(["a dog barks", "rain on a tin roof", "", ""])
    frames = round(seconds * model.frame_rate)
    plain = decode(lm, cond, frames, guidance=3.0, sampling=greedy)
    fp32 = FastDecoder(copy.deepcopy(lm), cuda_graphs=True)
    same = decode(fp32, cond, frames, guidance=3.0, sampling=greedy)
    if not torch.equal(same, plain):
        raise AssertionError(f"float32 + graphs: {(same == plain).float().mean():.4f} of "
                             "greedy tokens equal the plain LM's (expected all)")
    graph = fp32._kept.graph
    decode(fp32, cond, frames - 10, guidance=3.0, sampling=greedy)
    if fp32._kept.graph is not graph:
        raise AssertionError("a second generation of the same shape captured a new graph")
    bf16 = FastDecoder(copy.deepcopy(lm), dtype=torch.bfloat16, cuda_graphs=True)
    seq = lm.pattern.build(plain, lm.special_token)[:, :, :-1]
    rows = torch.cat([seq, seq])
    with torch.no_grad():
        expected = lm.step(rows, lm.start(cond, seq.shape[-1])).argmax(-1)
    got = bf16.step(rows, bf16.start(cond, seq.shape[-1])).argmax(-1).to(expected.device)
    agree = (got == expected).float().mean().item()
    if agree < 0.97:
        raise AssertionError(f"bfloat16 + graphs: teacher-forced agreement {agree:.4f} < 0.97")
    return (f"float32+graphs: {plain.numel()} greedy tokens identical, graph kept; "
            f"bfloat16+graphs: agreement {agree:.4f}")


def check_generate(dry: bool) -> str:
    import torch

    from audiogen.api import AudioGen, decoding_options
    from audiogen.default_model import default_model_dir

    directory = default_model_dir()
    texts = ["a dog barks while a car passes by", "rain on a tin roof"]
    duration = 0.4 if dry else 5.0
    _say(dry, f"generate {len(texts)} x 5 s with AudioGen.from_pretrained({directory}) on CUDA "
         "(defaults: bfloat16, CUDA graphs), twice (the second timed)")
    model = AudioGen.from_pretrained(directory, device=_device(dry))
    expected = decoding_options(_device(dry), True, None, None)
    if (model.lm.dtype, model.lm.cuda_graphs) != expected:
        raise AssertionError(f"defaults: dtype {model.lm.dtype}, graphs "
                             f"{model.lm.cuda_graphs} (expected {expected})")
    model.generate(texts, duration=duration, seed=0)
    begin = time.perf_counter()
    wav, sr = model.generate(texts, duration=duration, seed=1)
    seconds = time.perf_counter() - begin
    if wav.shape != (2, 1, round(duration * sr)) or not torch.isfinite(wav).all():
        raise AssertionError(f"bad audio: shape {tuple(wav.shape)}, finite "
                             f"{bool(torch.isfinite(wav).all())}")
    return f"2 x {duration:g} s in {seconds:.2f} s (RTF {seconds / duration:.3f} for the batch)"


def _lm_corpus(root: Path) -> dict:
    from lm_train_data import make_cache, make_codec, make_corpus

    manifest = make_corpus(root, clips=10, valid=2)
    codec = make_codec(root)
    return {"cache": str(make_cache(root, manifest, codec)), "codec": str(codec)}


def _lm_config(corpus: dict, dry: bool, **changes):
    from lm_train_data import tiny_config

    return tiny_config(**corpus, steps=TRAIN_STEPS, device="cpu" if dry else "cuda",
                       num_threads=0, **changes)


def _check_lm_train(precision: str, dry: bool) -> str:
    import math

    from audiogen.train.lm_trainer import LMTrainer

    _say(dry, f"train the tiny LM {TRAIN_STEPS} steps on CUDA, precision {precision}, on a "
         "10-clip token cache made here")
    _device(dry)
    with tempfile.TemporaryDirectory() as tmp:
        config = _lm_config(_lm_corpus(Path(tmp)), dry, precision=precision)
        trainer = LMTrainer(config, Path(tmp) / "run")
        losses = []
        begin = time.perf_counter()
        for _ in range(TRAIN_STEPS):
            losses.append(trainer.train_step()["ce"])
        _sync()
        seconds = time.perf_counter() - begin
    if not all(math.isfinite(x) for x in losses):
        raise AssertionError(f"non-finite losses {losses}")
    return (f"ce {losses[0]:.3f} -> {losses[-1]:.3f}, "
            f"{seconds / TRAIN_STEPS * 1000:.0f} ms/step")


def check_codec_train(dry: bool) -> str:
    import math

    import numpy as np
    import soundfile as sf
    import torch

    from audiogen.train.codec_trainer import CodecTrainConfig, CodecTrainer

    def config(data: str) -> CodecTrainConfig:
        return CodecTrainConfig(
            data=data, codec={"n_filters": 4, "ratios": [4, 2], "dimension": 8,
                              "lstm_layers": 1, "n_q": 2, "bins": 16},  # an LSTM as the presets
            disc_filters=4, batch_size=4, segment_seconds=0.25, valid_clips=2,
            steps=TRAIN_STEPS, disc_update_share=1.0, device=str(device), precision="bf16")

    _say(dry, f"train a tiny codec {TRAIN_STEPS} steps on CUDA, precision bf16 (adversarial "
         "losses on)")
    device = _device(dry)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(4):
            t = np.arange(16000) / 16000
            sf.write(f"{tmp}/{i}.wav", (0.4 * np.sin(2 * np.pi * 220 * (i + 1) * t))
                     .astype(np.float32), 16000)
        trainer = CodecTrainer(config(tmp), Path(tmp) / "run")
        seen = set()  # a CPU (dry run) computes in float32
        trainer.codec.decoder.conv_out.register_forward_hook(
            lambda module, inputs, out: seen.add(out.dtype))
        begin = time.perf_counter()
        mel = []
        for step in range(TRAIN_STEPS):
            trainer.step = step
            mel.append(trainer.train_step()["g/mel"])
        _sync()
        seconds = time.perf_counter() - begin
    if not all(math.isfinite(x) for x in mel):
        raise AssertionError(f"non-finite mel losses {mel}")
    expected = torch.float32 if dry else torch.bfloat16
    if seen != {expected} or any(p.dtype != torch.float32 for p in trainer.codec.parameters()):
        raise AssertionError(f"decoder output {seen} (expected {expected}), weights "
                             f"{ {p.dtype for p in trainer.codec.parameters()} }")
    return f"mel {mel[0]:.3f} -> {mel[-1]:.3f}, {seconds / TRAIN_STEPS * 1000:.0f} ms/step"


def _ddp_command() -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            "2", "-m", "audiogen", "train", "lm", "--config", "lm.yaml", "--no-progress",
            "-o", "ddp", "parallel=ddp", "grad_accum=2", "steps=3"]


def check_ddp(dry: bool) -> str:
    import torch

    from audiogen.train.config_file import config_to_yaml

    command = _ddp_command()
    _say(dry, "with 2 GPUs, in a folder holding lm.yaml (the tiny LM) and its corpus: "
         + " ".join(command[1:]))
    if dry:  # the configuration and the command line parse; no second GPU to run on
        text = config_to_yaml(_lm_config({"cache": "CACHE", "codec": "CODEC"}, dry))
        from audiogen.cli.main import build_parser

        argv = command[command.index("audiogen") + 1:]
        build_parser(argv).parse_args(argv)  # (the parser adds only the named command's flags)
        raise Skip(f"dry run (lm.yaml of {len(text.splitlines())} lines parses)")
    _device(dry)
    if torch.cuda.device_count() < 2:
        raise Skip(f"{torch.cuda.device_count()} GPU: needs 2")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "lm.yaml").write_text(config_to_yaml(_lm_config(_lm_corpus(Path(tmp)),
                                                                      dry)))
        env = {**os.environ, "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"}
        proc = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True,
                              timeout=240, check=False)
    if proc.returncode:
        raise AssertionError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    return "3 steps, 2 processes x 2 micro-batches"


def check_bench(dry: bool) -> str:
    command = [sys.executable, str(ROOT / "bench" / "generate.py"), "--gpu", "--quick"]
    _say(dry, " ".join(command[1:]))
    subprocess.run([*command[:2], "--help"], check=True, capture_output=True)  # it parses
    reference = ROOT / ".venv-ref" / "bin" / "python"
    if not reference.exists():
        raise Skip(f"no reference environment ({reference}; tools/reference/setup_env.sh)")
    if dry:
        raise Skip("dry run (the reference environment is present)")
    _device(dry)
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240,
                          check=False)
    if proc.returncode:
        raise AssertionError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    rows = [line.strip() for line in proc.stdout.splitlines() if "ours" in line]
    return " | ".join(rows) or proc.stdout.strip().splitlines()[-1]


CHECKS: dict[str, Callable[[bool], str]] = {
    "fast-parity": check_fast_parity,
    "generate": check_generate,
    "lm-train-bf16": lambda dry: _check_lm_train("bf16", dry),
    "lm-train-fp16": lambda dry: _check_lm_train("fp16", dry),
    "codec-train": check_codec_train,
    "ddp": check_ddp,
    "bench": check_bench,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="check inputs and print each step instead of running it")
    parser.add_argument("--only", nargs="+", choices=list(CHECKS), help="run these checks only")
    args = parser.parse_args()
    import torch

    where = ("dry run" if args.dry_run else
             f"{torch.cuda.get_device_name()} x {torch.cuda.device_count()}"
             if torch.cuda.is_available() else "no GPU")
    print(f"audiogen GPU check ({where}; torch {torch.__version__})", flush=True)
    failed = 0
    for name, check in CHECKS.items():
        if args.only and name not in args.only:
            continue
        begin = time.perf_counter()
        try:
            status, detail = ("DRY" if args.dry_run else "PASS"), check(args.dry_run)
        except Skip as e:
            status, detail = "SKIP", str(e)
        except Exception as e:  # noqa: BLE001 - a check's failure is reported, not raised
            status, detail = "FAIL", f"{type(e).__name__}: {e}".splitlines()[0]
            failed += 1
        print(f"{status:<5}{name:<15}{time.perf_counter() - begin:7.1f} s  {detail}", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())

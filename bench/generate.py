"""LM decoding speed: audiogen's decoder vs the reference's `LMModel.generate`, side by side.

    .venv/bin/python bench/generate.py [--quick] [--threads 1] [--seconds 5] [--no-reference]
    .venv/bin/python bench/generate.py --medium --threads 2 --seconds 10   # minutes, ~8 GB
    .venv/bin/python bench/generate.py --medium --no-reference --seconds 10 --variants fast-int8
    .venv/bin/python bench/generate.py --gpu     # CUDA only: the released medium shape in bf16

One run measures, for each shape (the default model's, lm_preset("small"): dim 256 x 6; and
dim 512 x 12 layers x 8 heads), both with 4 x 2048 codes, classifier-free guidance (coef 3,
one batch of 2 rows) and 16 text tokens:

- the reference (audiocraft 1.3.0 in .venv-ref, built as its released configs build it: the
  memory-efficient attention path), on the weights of tools/make_lm_fixtures.seeded_weights;
- this project's decode loop on the same weights (converted by the importer): the plain model,
  FastDecoder (float32), and FastDecoder with float16 / bfloat16 / int8 weights (opt-in:
  outputs change, so their greedy tokens are compared, not required equal). The last lines
  give int8's speed over the reference's and over float32 FastDecoder's at 512 x 12.

Without the reference environment, --no-reference runs our rows only (weights seeded the same
way, under our parameter names), ratios and greedy tokens against float32 FastDecoder.

--medium: the released AudioGen-medium shape (dim 1536 x 48 layers x 24 heads, 4 x 2048 codes,
T5-large-width text) on random weights: seconds for one --seconds clip (greedy, the one
generation timed) and peak memory, for the reference in float32 and ours in float32, bfloat16
and int8, one process each, side by side in one run.

Each side runs in its own subprocess (so each one's peak memory is its own), first greedy (the
identity check: the float32 paths must give the reference's tokens), then top-k 250 sampling
(the speed figure: the fastest of --repeats generations). Steps/s = LM calls / time for `seconds` of audio (50 frames per second).
Time is the process's CPU time (`time.process_time`; one thread): unlike wall time it does
not count time other jobs hold the core, though they still slow the memory bus. Wall-clock
figures are printed too. Peak memory: the RSS high-water mark of each subprocess (VmHWM),
reset after the model is built, so "gen MB" is the peak while generating and "peak MB" the
whole process's.

Last, the default model end to end (text -> waveform through audiogen.api.AudioGen): the
trained model in audiogen/assets/default_model if present, else random weights at the presets
lm "small" + codec "small"; real-time factor = seconds / seconds of audio (the fastest of
--repeats + 1 warm generations).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT_TOKENS = 16
CFG_COEF = 3.0
TOP_K = 250
FRAME_RATE = 50
# name -> the reference-config shape (tools/make_lm_fixtures.xp_cfg); text width is the
# projection's input only, computed once per generation.
SHAPES = {
    "small (default)": {"dim": 256, "num_heads": 4, "num_layers": 6, "n_q": 4, "card": 2048,
                        "bias": False, "text_dim": 512, "t5": "t5-small"},
    "512 x 12": {"dim": 512, "num_heads": 8, "num_layers": 12, "n_q": 4, "card": 2048,
                 "bias": False, "text_dim": 512, "t5": "t5-small"},
}
MEDIUM = {"dim": 1536, "num_heads": 24, "num_layers": 48, "n_q": 4, "card": 2048,
          "bias": False, "text_dim": 1024, "t5": "t5-large"}
VARIANTS = ("plain", "fast", "fast-fp16", "fast-bf16", "fast-int8")
WEIGHTS = {"fp16": "float16", "bf16": "bfloat16", "int8": "int8"}  # variant suffix -> dtype
REF_PYTHON = ROOT / "tools" / "reference" / "python_ref"  # runs .venv-ref (audiocraft)


def _fixtures():
    spec = importlib.util.spec_from_file_location("make_lm_fixtures",
                                                  ROOT / "tools" / "make_lm_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(text_dim: int):
    """Hidden states [1, 16, text_dim] of one 16-token caption (the same in both venvs)."""
    import torch

    g = torch.Generator().manual_seed(7)
    return torch.randn(1, TEXT_TOKENS, text_dim, generator=g), torch.ones(1, TEXT_TOKENS,
                                                                          dtype=torch.bool)


def _reset_peak() -> None:
    """Reset this process's RSS high-water mark (Linux: 5 -> /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------ workers (one per process)
def worker_reference(shape: dict, frames: int, shapes_out: str, device: str, dtype: str,
                     repeats: int) -> dict:
    import torch
    from audiocraft.modules.conditioners import ConditioningAttributes

    fx = _fixtures()
    hidden, mask = _text(shape["text_dim"])
    model = fx.build_reference(fx.xp_cfg(shape), hidden, mask)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    Path(shapes_out).write_text(json.dumps({"keys": "reference", "shapes": shapes}))
    weights = fx.seeded_weights(shapes)
    model.load_state_dict(weights, strict=True)
    del weights
    model = model.to(device=device, dtype=getattr(torch, dtype))
    model.condition_provider.device = device
    calls = [0]
    model.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    attributes = [ConditioningAttributes(text={"description": "c0"})]

    def run(sampling: bool):
        out = model.generate(conditions=attributes, max_gen_len=frames, use_sampling=sampling,
                             top_k=TOP_K, temp=1.0, cfg_coef=CFG_COEF, two_step_cfg=False)
        _sync(device)
        return out

    build_mb = _peak_mb()
    _reset_peak()
    with torch.no_grad():
        greedy, g_wall, g_cpu = _timed(lambda: run(False))
        steps = calls[0]
        torch.manual_seed(0)
        _, wall, cpu = min((_timed(lambda: run(True)) for _ in range(repeats)),
                           key=lambda r: r[2], default=(None, g_wall, g_cpu))
    return {"steps": steps, "greedy": greedy.cpu().tolist(), "wall": wall, "cpu": cpu,
            "greedy_wall": g_wall, "gen_mb": _peak_mb(), "build_mb": build_mb}


def native_shapes(shape: dict, shapes_out: str) -> None:
    """Without the reference: our model's parameter shapes under our own names (seeded by
    name as the reference's are, so different values from a run with the reference)."""
    import torch

    from audiogen.convert.lm import lm_config_from_xp_cfg
    from audiogen.lm import AudioLM

    with torch.device("meta"):
        model = AudioLM(lm_config_from_xp_cfg(_fixtures().xp_cfg(shape)))
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    Path(shapes_out).write_text(json.dumps({"keys": "audiogen", "shapes": shapes}))


def worker_ours(shape: dict, frames: int, shapes_in: str, variant: str, device: str,
                dtype: str, repeats: int) -> dict:
    import torch

    from audiogen.convert.lm import convert_lm_state_dict, lm_config_from_xp_cfg
    from audiogen.generation import decode
    from audiogen.generation.fast import FastDecoder
    from audiogen.lm import AudioLM
    from audiogen.lm.sampling import SamplingParams
    from audiogen.text.conditioner import TextCondition

    fx = _fixtures()
    config = lm_config_from_xp_cfg(fx.xp_cfg(shape))
    shapes = json.loads(Path(shapes_in).read_text())
    weights = fx.seeded_weights(shapes["shapes"])
    if shapes["keys"] == "reference":
        weights = convert_lm_state_dict(weights)
    model = AudioLM.from_state_dict(config, weights)
    del weights
    model = model.to(device=device, dtype=getattr(torch, dtype))
    lm = model
    compile_s = None
    if variant != "plain":
        weights = WEIGHTS.get(variant.rsplit("-", 1)[-1])
        lm = FastDecoder(model, dtype=None if weights is None else getattr(torch, weights),
                         compile="compile" in variant, cuda_graphs=device == "cuda")
    hidden, mask = _text(shape["text_dim"])
    cond = model.text.project(hidden.to(device), mask.to(device))
    both = TextCondition.cat([cond, model.text.null(1, TEXT_TOKENS)])

    def run(sampling: SamplingParams, generator=None):
        out = decode(lm, both, frames, guidance=CFG_COEF, sampling=sampling, generator=generator)
        _sync(device)
        return out

    build_mb = _peak_mb()
    _reset_peak()
    with torch.no_grad():
        greedy, g_wall, g_cpu = _timed(lambda: run(SamplingParams(temperature=0.0)))
        if variant != "plain" and lm.compile_seconds is not None:
            compile_s = lm.compile_seconds
        runs = [_timed(lambda: run(SamplingParams(top_k=TOP_K),
                                   torch.Generator(device).manual_seed(0)))
                for _ in range(repeats)]
        _, wall, cpu = min(runs, key=lambda r: r[2], default=(None, g_wall, g_cpu))
    steps = model.pattern.num_steps(frames) - 1
    return {"steps": steps, "greedy": greedy.cpu().tolist(), "wall": wall, "cpu": cpu,
            "greedy_wall": g_wall, "gen_mb": _peak_mb(), "build_mb": build_mb,
            "compile_s": compile_s}


def worker_end_to_end(seconds: float, variant: str, repeats: int) -> dict:
    import dataclasses

    import torch

    from audiogen.api import AudioGen
    from audiogen.codec import Codec, codec_preset
    from audiogen.default_model import DEFAULT_MODEL_DIR, default_model_dir
    from audiogen.errors import MissingFilesError
    from audiogen.generation.fast import FastDecoder
    from audiogen.lm import AudioLM
    from audiogen.lm.config import lm_preset

    try:
        model = AudioGen.from_pretrained(default_model_dir(), device="cpu", fast=False)
        which = str(DEFAULT_MODEL_DIR)
    except MissingFilesError:
        torch.manual_seed(0)
        codec = Codec(codec_preset("small"))
        lm = AudioLM(dataclasses.replace(lm_preset("small"), card=codec.cardinality))
        model = AudioGen(codec, lm)
        which = f"random weights: lm small (card {codec.cardinality}), codec small"
    if variant != "plain":
        weights = WEIGHTS.get(variant.rsplit("-", 1)[-1])
        model.lm = FastDecoder(model.lm, dtype=None if weights is None else getattr(torch, weights))
    texts = ["a dog barks while a car passes by"]
    model.generate(texts, duration=1.0, seed=0)  # loads the text encoder; warms up
    _reset_peak()
    _, wall, cpu = min((_timed(lambda: model.generate(texts, duration=seconds, seed=0))
                        for _ in range(repeats)), key=lambda r: r[2])
    return {"model": which, "wall": wall, "cpu": cpu, "rtf": wall / seconds,
            "rtf_cpu": cpu / seconds, "gen_mb": _peak_mb()}


def _worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    shape = json.loads(args.shape)
    if args.worker == "reference":
        out = worker_reference(shape, args.frames, args.shapes_file, args.device, args.dtype,
                               args.repeats)
    elif args.worker == "e2e":
        out = worker_end_to_end(args.frames / FRAME_RATE, args.variant, args.repeats)
    else:
        out = worker_ours(shape, args.frames, args.shapes_file, args.variant, args.device,
                          args.dtype, args.repeats)
    print("RESULT " + json.dumps(out))


# ------------------------------------------------------------------ the parent
def _spawn(python: list[str], args, **fields) -> dict:
    cmd = [*python, str(Path(__file__).resolve()), "--threads", str(args.threads)]
    for key, value in fields.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def _speed(r: dict) -> tuple[float, float]:
    return r["steps"] / r["cpu"], r["steps"] / r["wall"]


def run_shape(shape: dict, frames: int, variants: list[str], args, device: str = "cpu",
              dtype: str = "float32", repeats: int | None = None,
              ) -> tuple[dict | None, dict[str, dict]]:
    """The reference's results (None with --no-reference) and ours per variant; `repeats`
    timed sampled generations each (default --repeats; 0: the greedy one is timed)."""
    with tempfile.TemporaryDirectory() as tmp:
        shapes_file = str(Path(tmp) / "shapes.json")
        common = {"shape": json.dumps(shape), "frames": frames, "shapes_file": shapes_file,
                  "device": device,
                  "repeats": args.repeats if repeats is None else repeats}
        ref = None
        if args.no_reference:
            native_shapes(shape, shapes_file)
        else:
            ref_dtype = "bfloat16" if device == "cuda" else "float32"
            ref = _spawn([str(REF_PYTHON)], args, worker="reference", dtype=ref_dtype, **common)
        ours = {v: _spawn([sys.executable], args, worker="ours", variant=v, dtype=dtype, **common)
                for v in variants}
    return ref, ours


def bench_shape(name: str, shape: dict, frames: int, variants: list[str], args,
                device: str = "cpu", dtype: str = "float32") -> tuple[list[str], dict]:
    """Table rows, and steps/s (cpu) per decoder ("reference", then ours by variant). Ratios
    and greedy agreement are against the reference, or ours float32 ("fast") without it."""
    ref, ours = run_shape(shape, frames, variants, args, device, dtype)
    base_name, base = ("reference", ref) if ref is not None else next(
        (f"ours {v}", r) for v, r in ours.items() if v == "fast" or len(ours) == 1)
    speeds = {} if ref is None else {"reference": _speed(ref)[0]}
    rows = [(f"{name}: {base['steps']} steps ({frames} frames), guidance, {TEXT_TOKENS} text "
            f"tokens; ratio and greedy tokens vs {base_name}"),
            _row("decoder", "steps/s cpu", "wall", "ratio", "greedy = base", "gen MB",
                 "peak MB")]
    if ref is not None:
        rows.append(_row("reference", *_speed(ref), 1.0, "-", ref["gen_mb"],
                         max(ref["build_mb"], ref["gen_mb"])))
    for variant, r in ours.items():
        cpu, wall = _speed(r)
        speeds[variant] = cpu
        rows.append(_row(f"ours {variant}", cpu, wall, cpu / _speed(base)[0],
                         _agreement(r, base), r["gen_mb"], max(r["build_mb"], r["gen_mb"])))
        if r.get("compile_s"):
            rows[-1] += f"  (first step incl. compile: {r['compile_s']:.1f} s)"
    return rows, speeds


def bench_medium(variants: list[str], args) -> list[str]:
    """The released medium shape: seconds per clip and peak memory, side by side."""
    clip = 2.0 if args.quick else args.seconds
    frames = round(clip * FRAME_RATE)
    ref, ours = run_shape(MEDIUM, frames, variants, args, repeats=0)
    m = MEDIUM
    rows = [(f"medium {m['dim']} x {m['num_layers']} layers x {m['num_heads']} heads, "
             f"{m['n_q']} x {m['card']} codes, text width {m['text_dim']}, random weights: one "
             f"{clip:g} s clip ({frames} frames), guidance, greedy, {args.threads} thread(s)"),
            (f"  {'decoder':<22}{'s wall':>9}{'s cpu':>9}{'greedy = f32':>14}{'gen MB':>8}"
            f"{'peak MB':>9}")]
    results = ([("reference", ref)] if ref is not None else []) + [
        (f"ours {v}", r) for v, r in ours.items()]
    base = ref or ours.get("fast")  # the float32 tokens the others are compared with
    for name, r in results:
        rows.append(f"  {name:<22}{r['wall']:>9.1f}{r['cpu']:>9.1f}"
                    f"{'-' if base is None else _agreement(r, base):>14}{r['gen_mb']:>8.0f}"
                    f"{max(r['build_mb'], r['gen_mb']):>9.0f}")
    return rows


def _agreement(r: dict, base: dict) -> str:
    """How many of r's greedy tokens equal base's ("identical" when all)."""
    same = sum(a == b for a, b in zip(_flat(r["greedy"]), _flat(base["greedy"])))
    total = len(_flat(base["greedy"]))
    return "identical" if same == total else f"{same}/{total}"


def _row(name, cpu, wall, ratio, check, gen_mb, peak_mb) -> str:
    """One table line; numbers formatted, headers (strings) as they are."""
    def fmt(value, spec):
        return value if isinstance(value, str) else format(value, spec)
    return (f"  {name:<22}{fmt(cpu, '.1f'):>12}{fmt(wall, '.1f'):>8}{fmt(ratio, '.2f'):>7}"
            f"{check:>14}{fmt(gen_mb, '.0f'):>8}{fmt(peak_mb, '.0f'):>9}")


def _flat(x) -> list:
    return [v for row in x for v in (_flat(row) if isinstance(row, list) else [row])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s of audio, fewer variants")
    parser.add_argument("--seconds", type=float, default=5.0, help="audio per generation")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2,
                        help="timed top-k generations per side (the fastest is kept)")
    parser.add_argument("--compile", action="store_true",
                        help="also time FastDecoder with torch.compile (reports compile time)")
    parser.add_argument("--no-reference", action="store_true",
                        help="ours only (no .venv-ref): ratios against ours float32")
    parser.add_argument("--medium", action="store_true",
                        help="the released medium shape (1536 x 48) on the CPU: seconds per "
                        "--seconds clip (use --seconds 10) and peak memory, float32 / bfloat16 "
                        "/ int8 (and the reference in float32); minutes, about 8 GB")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=None,
                        help="which of our decoders to run (default: all; with --medium: "
                        "fast fast-bf16 fast-int8)")
    parser.add_argument("--gpu", action="store_true",
                        help="CUDA: the released medium shape (1536 x 48) in bf16, 10 s clips "
                             "(2 s with --quick; untested: written without a GPU)")
    # worker-only arguments
    parser.add_argument("--worker", choices=["reference", "ours", "e2e"], help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="plain", help=argparse.SUPPRESS)
    parser.add_argument("--shape", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--shapes-file", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args)

    if not args.no_reference and not (ROOT / ".venv-ref" / "bin" / "python").exists():
        parser.error("no reference environment (.venv-ref with audiocraft 1.3.0, see "
                     "tools/reference/setup_env.sh): build it, or run with --no-reference")
    seconds = 1.0 if args.quick else args.seconds
    frames = round(seconds * FRAME_RATE)
    load = os.getloadavg()
    against = "ours only" if args.no_reference else "vs audiocraft 1.3.0"
    print(f"audiogen LM decoding {against} ({time.strftime('%Y-%m-%d %H:%M %Z')}; "
          f"{os.cpu_count()} CPUs, {args.threads} thread(s), load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    if args.gpu:
        clip = 2.0 if args.quick else 10.0
        rows, _ = bench_shape("medium 1536 x 48, bf16, CUDA", MEDIUM, round(clip * FRAME_RATE),
                              ["fast-bf16"], args, device="cuda", dtype="bfloat16")
        print("\n".join(rows))
        print(f"(seconds per {clip:g} s clip = steps / (steps/s wall))")
        return
    if args.medium:
        print("\n".join(bench_medium(args.variants or ["fast", "fast-bf16", "fast-int8"],
                                      args)))
        return
    variants = args.variants or (["plain", "fast", "fast-int8"] if args.quick
                                 else list(VARIANTS))
    if args.compile:
        variants.append("fast-compile")
    speeds = {}
    for name, shape in SHAPES.items():
        rows, speeds[name] = bench_shape(name, shape, frames, variants, args)
        print("\n".join(rows), flush=True)
    speeds = speeds["512 x 12"]
    for base, label in (("reference", "reference"), ("fast", "float32 FastDecoder")):
        if "fast-int8" in speeds and base in speeds:
            print(f"int8 ratio vs {label} (512 x 12): "
                  f"{speeds['fast-int8'] / speeds[base]:.2f}", flush=True)
    for variant in ("plain", "fast", "fast-fp16", "fast-int8"):
        r = _spawn([sys.executable], args, worker="e2e", variant=variant, frames=frames,
                   repeats=args.repeats + 1)
        print(f"end to end ({variant} decoder), {seconds:g} s of audio, {r['model']}: "
              f"RTF {r['rtf']:.3f} wall ({r['wall']:.2f} s), {r['rtf_cpu']:.3f} cpu; "
              f"gen peak {r['gen_mb']:.0f} MB", flush=True)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()

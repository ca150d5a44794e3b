"""What several commands share: the model, device, output and generation options, and the
steps that run before a model is loaded (settings checked, the seed drawn, outputs checked).

One scheme for every command: `-o/--output` names what a command writes (`--out` is kept as a
hidden alias), `--device` takes auto/cpu/cuda/cuda:N/mps with the default auto, `--model DIR`
names a model directory. Only modules of audiogen.cli import this one.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from audiogen.errors import AudiogenError

if TYPE_CHECKING:
    from audiogen.generation.config import GenerationConfig
    from audiogen.generation.request import GenerationRequest

# Heavy modules (torch through audiogen.generation and audiogen.device) are imported inside the
# functions: they run only for the command being run, so `audiogen --help` stays fast.


def add_output_argument(parser: argparse.ArgumentParser, help: str, metavar: str = "OUT",
                        required: bool = True, **kwargs) -> None:
    """`-o/--output`, and `--out`, the spelling older scripts use, hidden from --help."""
    # one of the two is required, not -o itself
    either = parser.add_mutually_exclusive_group(required=required)
    either.add_argument("-o", "--output", metavar=metavar, help=help, **kwargs)
    either.add_argument("--out", dest="output", metavar=metavar, help=argparse.SUPPRESS,
                        **{k: v for k, v in kwargs.items() if k != "default"})


def add_device_argument(parser: argparse.ArgumentParser, keep_saved: bool = False) -> None:
    """`--device`; with `keep_saved` its default is None, so a resumed run keeps its own."""
    from audiogen.device import DEFAULT_DEVICE, DEVICE_HELP

    parser.add_argument("--device", default=None if keep_saved else DEFAULT_DEVICE,
                        metavar="DEVICE", help=DEVICE_HELP)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, metavar="DIR",
                        help="model directory (codec.json/.safetensors, lm.json/.safetensors; "
                        "default: the model installed with the package)")
    add_device_argument(parser)
    parser.add_argument("--text-encoder", type=Path, default=None, metavar="DIR",
                        help="local folder of the text encoder, overriding lm.json (e.g. t5-large)")
    parser.add_argument("--plain-decoder", action="store_true",
                        help="decode with the plain LM instead of the fast decoder (same "
                        "greedy tokens; for comparisons and debugging)")
    parser.add_argument("--dtype", default=None, metavar="DTYPE",
                        help="precision of the LM's weight products: float32, bfloat16, "
                        "float16 or int8 (CPU only: faster, tokens close to float32's; "
                        "default: bfloat16 on CUDA, float32 on a CPU); the residual "
                        "stream and norms stay float32")
    parser.add_argument("--cuda-graphs", default=None, action=argparse.BooleanOptionalAction,
                        help="replay each decoding step from a CUDA graph (default: on with "
                        "CUDA; CUDA only)")


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """The GenerationRequest's settings; their defaults are the model's (lm.json), shown here
    as the package's. Values are read as text and checked by GenerationRequest, so a bad one
    gets the same message as on the web page."""
    from audiogen.generation.config import GenerationConfig
    from audiogen.generation.request import SEED_LIMIT

    d = GenerationConfig()
    parser.add_argument("--duration", default=None, metavar="S",
                        help=f"seconds of audio, above 0 and at most the model's cap "
                        f"(default: the model's, usually {d.duration:g}; cap usually "
                        f"{d.max_duration:g})")
    parser.add_argument("--seed", default=None, metavar="N",
                        help=f"random seed, a whole number from 0 to 2**{SEED_LIMIT.bit_length() - 1}"
                        " - 1 (default: drawn, and printed)")
    parser.add_argument("--cfg-coef", default=None, metavar="G",
                        help=f"classifier-free guidance scale, >= 0 (default {d.cfg_coef:g}; "
                        "1 = no guidance)")
    parser.add_argument("--top-k", default=None, metavar="K",
                        help=f"sample among the K most likely codes (default {d.top_k}; 0 = off)")
    parser.add_argument("--top-p", default=None, metavar="P",
                        help=f"nucleus sampling mass in [0, 1] (default {d.top_p:g} = off); "
                        "wins over --top-k")
    parser.add_argument("--temperature", default=None, metavar="T",
                        help=f"softmax temperature, >= 0 (default {d.temperature:g}; 0 = greedy)")
    parser.add_argument("--negative", default=None, metavar="TEXT",
                        help="negative prompt: what to steer away from (needs guidance)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def generation_request(args: argparse.Namespace) -> GenerationRequest:
    """The options of add_generation_arguments, checked and with the seed drawn, before any
    model is loaded; the duration is checked against the model's cap when its lm.json reads."""
    from audiogen.generation.request import GenerationRequest

    request = GenerationRequest(duration=args.duration, cfg_coef=args.cfg_coef,
                                top_k=args.top_k, top_p=args.top_p,
                                temperature=args.temperature, seed=args.seed,
                                negative_prompt=args.negative)
    config = _generation_config(args.model)
    return request.checked() if config is None else request.filled(config)


def _generation_config(model: Path | None) -> GenerationConfig | None:
    """The model's generation defaults read from its lm.json without loading the model; None
    when it cannot be read here (the model loader then reports what is wrong with it)."""
    from audiogen.default_model import DEFAULT_MODEL_DIR
    from audiogen.fileio import read_json
    from audiogen.generation.config import GenerationConfig

    path = (DEFAULT_MODEL_DIR if model is None else model) / "lm.json"
    try:
        meta = read_json(path)
        return GenerationConfig.from_dict(meta.get("generation"))
    except (OSError, ValueError, TypeError, AttributeError, AudiogenError):
        return None


def check_run_args(args: argparse.Namespace) -> Path:
    """A training command's -o RUN_DIR (required), --export and --device, checked before any
    work; returns RUN_DIR."""
    from audiogen.device import resolve_device
    from audiogen.fileio import check_output_dir

    if not args.output:
        raise AudiogenError("-o RUN_DIR is required.")
    run_dir = check_output_dir(args.output)
    if args.export:
        check_output_dir(args.export)
    if args.device is not None:
        resolve_device(args.device)  # a device this machine lacks fails before any work
    return run_dir


def check_device(args: argparse.Namespace):
    """args.device resolved (AudiogenError if this machine cannot use it): -> torch.device."""
    from audiogen.device import resolve_device

    return resolve_device(args.device)


def load_model(args: argparse.Namespace):
    """The AudioGen of --model (default: the installed model) on --device."""
    from audiogen.api import AudioGen, decoding_options
    from audiogen.default_model import default_model_dir

    device = check_device(args)
    # checked here too, so a bad value is refused before the model directory is read
    decoding_options(device, not args.plain_decoder, args.dtype, args.cuda_graphs)
    model_dir = args.model if args.model is not None else default_model_dir()
    return AudioGen.from_pretrained(model_dir, device=device,
                                    text_encoder_path=args.text_encoder,
                                    fast=not args.plain_decoder, dtype=args.dtype,
                                    cuda_graphs=args.cuda_graphs)


def show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def plain_warnings() -> None:
    """Show warnings as one `audiogen: warning: ...` line, without file and source line."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"audiogen: warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show

"""Train the language model on a token cache or on audio with mixing; resumes RUN_DIR's latest checkpoint.

Examples:
    audiogen train lm --config small -o runs/lm cache=data/sounds-cache codec=models/my-codec
    audiogen train lm --config my_lm.yaml -o runs/lm steps=4000 batch_size=32
    audiogen train lm -o runs/lm steps=6000        # continue the same run further
    torchrun --nproc_per_node 4 -m audiogen train lm --config my_lm.yaml -o runs/lm

--config takes a YAML file or a packaged preset (small, medium, paper-base, paper-large);
`audiogen train lm --print-config small > my_lm.yaml` writes one to edit. key=value arguments
override single settings (lm.num_layers=4, mixing.prob=0.3, ...). A run directory remembers
its settings (RUN_DIR/train_config.yaml): re-running with only -o resumes with them.
batch_size is the global batch over all processes and accumulation steps.
Writes RUN_DIR/checkpoints/step_N/, RUN_DIR/metrics.jsonl (see `audiogen plot RUN_DIR`) and at
the end the model directory RUN_DIR/model (or --export DIR), ready for `audiogen generate`.
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_device_argument, add_output_argument, check_run_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE_OR_PRESET",
                        help="YAML config or preset name (default: the run's saved config, "
                             "else small)")
    add_output_argument(parser, metavar="RUN_DIR", required=False,
                        help="run directory: checkpoints, metrics, the final model")
    parser.add_argument("--export", metavar="DIR",
                        help="write the final model directory here (default: RUN_DIR/model; "
                        "the same as export_dir=DIR)")
    add_device_argument(parser, keep_saved=True)
    parser.add_argument("--print-config", metavar="FILE_OR_PRESET",
                        help="print the full commented config (with overrides) and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="settings to change, e.g. steps=2000 lm.num_layers=4")


def run(args: argparse.Namespace) -> int:
    from audiogen.train.config_file import config_to_yaml
    from audiogen.train.lm_config import load_config
    from audiogen.train.overrides import apply_overrides

    if args.print_config:
        config = apply_overrides(load_config(args.print_config), args.overrides)
        print(config_to_yaml(config, "audiogen train lm config; edit, then pass with --config"),
              end="")
        return 0
    run_dir = check_run_args(args)
    saved = run_dir / "train_config.yaml"
    if args.config:
        config = load_config(args.config)
    elif saved.is_file():  # a resumed run keeps its settings unless told otherwise
        config = load_config(saved)
    else:
        config = load_config("small")
    flags = {"export_dir": args.export, "device": args.device}
    overrides = [f"{k}={v}" for k, v in flags.items() if v is not None] + list(args.overrides)
    config = apply_overrides(config, overrides)

    from audiogen import distributed
    from audiogen.train.lm_trainer import LMTrainer

    trainer = LMTrainer(config, run_dir)
    with distributed.closing():
        valid = trainer.train(show_progress=not args.no_progress)
        if distributed.is_main():
            summary = f"; valid ce {valid['ce']:.4f} (ppl {valid['ppl']:.1f})" if valid else ""
            print(f"trained {trainer.step} steps{summary}; model: {trainer.export_path()}")
    return 0

"""Train a codec on a folder or JSONL manifest of audio; resumes from RUN_DIR's latest checkpoint.

Examples:
    audiogen train codec --data my_sounds/ -o runs/codec --steps 2000 batch_size=8
    audiogen train codec --config small --data my_sounds/ -o runs/codec
    audiogen train codec -o runs/codec --steps 4000        # continue the same run further
    torchrun --nproc_per_node 2 -m audiogen train codec --data my_sounds/ -o runs/codec

--config takes a YAML file or a packaged preset (small, audiogen-16khz);
`audiogen train codec --print-config small > my_codec.yaml` writes one to edit. Settings not
covered by a flag are given as key=value after all the flags (see CodecTrainConfig in
audiogen/train/codec_trainer.py), e.g. lr=1e-3 loss_weights.adv=0 codec.n_q=2. A run directory
remembers its settings (train_config.json): re-running with only -o resumes with them, and
--config, flags or key=value given again override them. batch_size is the global batch over
all processes.
Writes RUN_DIR/checkpoints/step_N/ (each a codec model directory), RUN_DIR/metrics.jsonl, and
at the end the model directory RUN_DIR/model (or --export DIR).
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_device_argument, add_output_argument, check_run_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE_OR_PRESET",
                        help="YAML config or preset name (default: the run's saved config, "
                             "else the built-in defaults)")
    parser.add_argument("--data", help="folder of audio files (scanned recursively) or a JSONL "
                                       "manifest (its train rows; valid rows validate)")
    add_output_argument(parser, metavar="RUN_DIR", required=False,
                        help="run directory: checkpoints, metrics, the final model")
    parser.add_argument("--preset", help="codec preset (default: small)")
    parser.add_argument("--steps", type=int, help="train up to this many steps in total")
    parser.add_argument("--export", metavar="DIR",
                        help="write the final model directory here (default: RUN_DIR/model)")
    add_device_argument(parser, keep_saved=True)
    parser.add_argument("--print-config", metavar="FILE_OR_PRESET",
                        help="print the full commented config (with flags and overrides) "
                             "and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="other settings, after the flags, e.g. batch_size=8 lr=1e-3")


def run(args: argparse.Namespace) -> int:

    from audiogen import distributed
    from audiogen.fileio import read_json
    from audiogen.model_dir import parse_config
    from audiogen.train.codec_config import load_config
    from audiogen.train.codec_trainer import CodecTrainConfig, CodecTrainer
    from audiogen.train.config_file import config_to_yaml
    from audiogen.train.overrides import apply_overrides

    flags = {"data": args.data, "preset": args.preset, "steps": args.steps,
             "export_dir": args.export, "device": args.device}
    overrides = [f"{k}={v}" for k, v in flags.items() if v is not None] + list(args.overrides)
    if args.print_config:
        config = apply_overrides(load_config(args.print_config), overrides)
        print(config_to_yaml(config, "audiogen train codec config; edit, then pass with "
                                     "--config"), end="")
        return 0
    run_dir = check_run_args(args)
    saved = run_dir / "train_config.json"
    if args.config:
        config = load_config(args.config)
    elif saved.is_file():  # a resumed run keeps its settings unless told otherwise; a setting
        # added since it was written takes its default
        config = parse_config(CodecTrainConfig, read_json(saved), str(saved), partial=True)
    else:
        config = CodecTrainConfig()
    config = apply_overrides(config, overrides)
    trainer = CodecTrainer(config, run_dir)
    with distributed.closing():
        valid = trainer.train(show_progress=not args.no_progress)
        if distributed.is_main():
            exported = trainer.export_path()
            summary = (f"; SI-SNR {valid['si_snr_db']:.2f} dB, mel distance "
                       f"{valid['mel_distance']:.4f}" if valid else "")
            print(f"trained {trainer.step} steps{summary}; model: {exported}")
    return 0

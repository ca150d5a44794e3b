"""Train a codec on a folder or JSONL manifest of audio; resumes from RUN_DIR's latest checkpoint.

Examples:
    audiogen train codec --data my_sounds/ -o runs/codec --steps 2000 batch_size=8
    audiogen train codec -o runs/codec --steps 4000        # continue the same run further
    torchrun --nproc_per_node 2 -m audiogen train codec --data my_sounds/ -o runs/codec

Settings not covered by a flag are given as key=value after all the flags (see CodecTrainConfig
in audiogen/train/codec_trainer.py), e.g. lr=1e-3 loss_weights.adv=0 codec.n_q=2. A run directory
remembers its settings (train_config.json): re-running with only -o resumes with them, and
flags or key=value given again override them. batch_size is the global batch over all processes.
Writes RUN_DIR/checkpoints/step_N/ (each a codec model directory), RUN_DIR/metrics.jsonl, and
at the end the model directory RUN_DIR/model (or --export DIR).
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_device_argument, add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="folder of audio files (scanned recursively) or a JSONL "
                                       "manifest (its train rows; valid rows validate)")
    add_output_argument(parser, metavar="RUN_DIR",
                        help="run directory: checkpoints, metrics, the final model")
    parser.add_argument("--preset", help="codec preset (default: small)")
    parser.add_argument("--steps", type=int, help="train up to this many steps in total")
    parser.add_argument("--export", metavar="DIR",
                        help="write the final model directory here (default: RUN_DIR/model)")
    add_device_argument(parser, keep_saved=True)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="other settings, after the flags, e.g. batch_size=8 lr=1e-3")


def run(args: argparse.Namespace) -> int:

    from audiogen.device import resolve_device
    from audiogen.fileio import check_output_dir, read_json
    from audiogen.model_dir import parse_config
    from audiogen.train import distributed
    from audiogen.train.codec_trainer import CodecTrainConfig, CodecTrainer
    from audiogen.train.overrides import apply_overrides

    run_dir = check_output_dir(args.output)
    if args.export:
        check_output_dir(args.export)
    if args.device is not None:
        resolve_device(args.device)  # a device this machine lacks fails before any work
    config = CodecTrainConfig()
    saved = run_dir / "train_config.json"
    if saved.is_file():  # a resumed run keeps its settings unless told otherwise; settings
        # added since it began are missing from its file and take their defaults, which keep
        # what the trainer did before them
        config = parse_config(CodecTrainConfig, read_json(saved), str(saved), partial=True)
    flags = {"data": args.data, "preset": args.preset, "steps": args.steps,
             "export_dir": args.export, "device": args.device}
    overrides = [f"{k}={v}" for k, v in flags.items() if v is not None] + list(args.overrides)
    config = apply_overrides(config, overrides)
    trainer = CodecTrainer(config, run_dir)
    try:
        valid = trainer.train(show_progress=not args.no_progress)
        if distributed.is_main():
            exported = trainer.export_path()
            summary = (f"; SI-SNR {valid['si_snr_db']:.2f} dB, mel distance "
                       f"{valid['mel_distance']:.4f}" if valid else "")
            print(f"trained {trainer.step} steps{summary}; model: {exported}")
    finally:
        distributed.close()
    return 0

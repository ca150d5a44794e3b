"""The `audiogen` command line.

Each command lives in its own module under `audiogen.cli`, which defines
`add_arguments(parser)` and `run(args) -> int | None`, and whose docstring's first line is the
command's help. Modules import heavy dependencies (torch, transformers) inside functions, and
only the command being run gets its arguments added, so `audiogen --help` stays fast. This
table is the one place a command is registered; GROUPS says what each group of commands is.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from audiogen.errors import AudiogenError

# command words -> module implementing it
COMMANDS: dict[tuple[str, ...], str] = {
    ("convert-audiocraft-codec",): "audiogen.cli.convert_codec",
    ("convert-audiocraft",): "audiogen.cli.convert_audiocraft",
    ("data", "index"): "audiogen.cli.data_index",
    ("data", "encode"): "audiogen.cli.data_encode",
    ("data", "build-open-corpus"): "audiogen.cli.data_open_corpus",
    ("data", "build-recordings"): "audiogen.cli.data_recordings",
    ("train", "codec"): "audiogen.cli.train_codec",
    ("train", "lm"): "audiogen.cli.train_lm",
    ("train", "judge"): "audiogen.cli.train_judge",
    ("plot",): "audiogen.cli.plot",
    ("encode",): "audiogen.cli.encode",
    ("decode",): "audiogen.cli.decode",
    ("evaluate",): "audiogen.cli.evaluate",
    ("evaluate-codec",): "audiogen.cli.evaluate_codec",
    ("generate",): "audiogen.cli.generate",
    ("continue",): "audiogen.cli.continue_audio",
    ("serve",): "audiogen.cli.serve",
}
# command groups -> their help line in `audiogen --help`
GROUPS: dict[tuple[str, ...], str] = {
    ("data",): "Prepare training data: index audio, encode it to codes, build the open corpus.",
    ("train",): "Train a codec, a language model or the evaluation judge.",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the command that `argv` names (if any) gets its arguments."""
    parser = argparse.ArgumentParser(
        prog="audiogen",
        description="AudioGen: textually guided audio generation (codec, LM, training, evaluation).",
    )
    from audiogen import __version__

    parser.add_argument("--version", action="version", version=f"audiogen {__version__}")
    subparsers = {(): parser.add_subparsers(dest="command", metavar="COMMAND")}
    groups: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    chosen = _chosen_command(sys.argv[1:] if argv is None else argv)
    for words, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip().splitlines()
        help_text = doc[0] if doc else ""
        for depth in range(1, len(words)):  # intermediate groups such as `train`
            prefix = words[:depth]
            if prefix not in groups:
                groups[prefix] = subparsers[prefix[:-1]].add_parser(
                    prefix[-1], help=GROUPS[prefix], description=GROUPS[prefix])
                subparsers[prefix] = groups[prefix].add_subparsers(
                    dest="_".join(prefix) + "_command", metavar="COMMAND", required=True)
        sub = subparsers[words[:-1]].add_parser(
            words[-1], help=help_text, description="\n".join(doc),
            formatter_class=argparse.RawDescriptionHelpFormatter)
        if words == chosen:
            module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def _chosen_command(argv: list[str]) -> tuple[str, ...] | None:
    """The registered command whose words start `argv`, or None."""
    for words in COMMANDS:
        if tuple(argv[:len(words)]) == words:
            return words
    return None


def main(argv: list[str] | None = None) -> None:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        sys.exit(2)
    try:
        code = args._run(args)
    except AudiogenError as e:
        print(f"audiogen: error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:  # a read or write the command did not expect to fail (disk full ...)
        where = f"{e.filename}: " if e.filename else ""
        print(f"audiogen: error: {where}{e.strerror or e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("audiogen: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)

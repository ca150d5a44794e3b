"""Serve the web page and its HTTP API: generate, listen while it is made, compare.

Needs the `ui` extra (pip install 'audiogen[ui]'); playing audio while it is generated also
needs ffmpeg. Listens on 127.0.0.1 only unless --host says otherwise.

Examples:
  audiogen serve --model models/small
  audiogen serve --model models/small --port 8000 --max-batch 2 --max-duration 10
"""

from __future__ import annotations

import argparse

from audiogen.errors import AudiogenError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from audiogen.cli.common import add_model_arguments

    add_model_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="TCP port (default 7860)")
    parser.add_argument("--max-batch", type=int, default=4, metavar="N",
                        help="prompts per request (default 4)")
    parser.add_argument("--max-duration", type=float, default=None, metavar="S",
                        help="seconds per request (default: the model's cap)")
    parser.add_argument("--queue-size", type=int, default=16, metavar="N",
                        help="requests that may wait behind the running ones (default 16)")
    parser.add_argument("--slots", type=int, default=8, metavar="N",
                        help="clips decoded together: concurrent requests share one decode "
                             "loop of N slots (default 8; at least --max-batch)")


def run(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise AudiogenError("the web page needs Gradio: pip install 'audiogen[ui]'") from None
    from audiogen.cli.common import load_model
    from audiogen.ui.app import build_app
    from audiogen.ui.limits import ServeConfig

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"audiogen: warning: listening on {args.host}: the page is reachable from other "
              "machines, with no authentication.", flush=True)
    config = ServeConfig(host=args.host, port=args.port, max_batch=args.max_batch,
                         max_duration=args.max_duration, queue_size=args.queue_size,
                         slots=args.slots)
    model = load_model(args)
    demo = build_app(model, config)
    try:
        demo.launch(server_name=config.host, server_port=config.port, share=False,
                    inbrowser=False)
    except OSError as e:
        raise AudiogenError(f"cannot listen on {config.host}:{config.port}: {e}") from e
    return 0

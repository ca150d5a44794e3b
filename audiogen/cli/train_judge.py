"""Train the judge (a classifier of the corpus labels on aisfx embeddings) and measure it on test.

Examples:
    audiogen train judge --corpus corpus/manifest.jsonl -o audiogen/assets/judge
    audiogen train judge --corpus corpus/manifest.jsonl -o runs/judge --cache runs/emb-cache

Embeds every clip once with aisfx (cached per file, by default in ~/.cache/audiogen/embeddings,
shared with `audiogen evaluate --cache`), mixes pairs of clips (seeded, embedded afresh each
run), fits a few small heads on the train split and the mixtures, keeps the
best on valid and reports top-1/top-3/per-class accuracy on the test split, and how often both
labels of a mixture of two test clips are in its top 3. Writes DIR/judge.json
(labels, config, accuracies) and DIR/judge.safetensors. Use it with
`audiogen evaluate ... --classifier judge --classifier-weights DIR`. See docs/evaluation.md.
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True,
                        help="JSONL manifest with label and split per clip")
    add_output_argument(parser, metavar="DIR",
                        help="judge directory to write")
    parser.add_argument("--cache", help="embedding cache directory (default: "
                        "~/.cache/audiogen/embeddings; 'none' to embed without caching)")
    parser.add_argument("--mixtures", type=float, default=1.0,
                        help="two-clip training mixtures per training clip (default 1; 0: none)")
    parser.add_argument("--eval-mixtures", type=int, default=200,
                        help="two-clip mixtures drawn from each of valid and test (default 200)")
    parser.add_argument("--codec", metavar="DIR",
                        help="also train and measure on this codec's reconstructions of every "
                        "clip and mixture (the judge of a model's generations: give its codec)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (default 1: fastest on a shared machine)")


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from audiogen.eval.judge_train import train_judge
    from audiogen.eval.weights import cache_dir
    from audiogen.fileio import check_output_dir

    check_output_dir(args.output)
    torch.set_num_threads(args.threads)
    cache = None if args.cache == "none" else (args.cache or str(cache_dir() / "embeddings"))
    start = time.perf_counter()
    codec = None
    if args.codec:
        from audiogen.codec import Codec

        codec = Codec.load(args.codec)
    judge = train_judge(args.corpus, cache, mixtures=args.mixtures,
                        eval_mixtures=args.eval_mixtures, codec=codec)
    judge.trained_on["command"] = (f"audiogen train judge --corpus {args.corpus} "
                                   f"-o {args.output}"
                                   + (f" --codec {args.codec}" if args.codec else ""))
    judge.trained_on["seconds"] = round(time.perf_counter() - start, 1)
    judge.save(args.output)
    head = f"MLP {judge.config.hidden}" if judge.config.hidden else "linear"
    print(f"judge: {len(judge.labels)} labels, {head} head "
          f"(dropout {judge.config.dropout}, {judge.config.epochs} steps)")
    for split in ("valid", "test", "valid_codec", "test_codec"):
        acc = judge.accuracy.get(split)
        if acc is None:
            continue
        print(f"{split:5s} {acc['n']:4d} clips: top-1 {acc['top1']:.3f}  top-3 {acc['top3']:.3f}")
        mix = judge.accuracy.get(f"{split}_mixtures")
        if mix:
            print(f"{split:5s} {mix['n']:4d} two-clip mixtures: both labels in top-2 "
                  f"{mix['both_top2']:.3f}, in top-3 {mix['both_top3']:.3f}")
    worst = sorted(judge.accuracy["test"]["per_class"].items(), key=lambda kv: kv[1]["top1"])[:5]
    print("test, weakest classes: " + ", ".join(f"{k} {v['top1']:.2f} (n={v['n']})"
                                               for k, v in worst))
    print(f"wrote {args.output}/judge.json and judge.safetensors "
          f"({judge.trained_on['seconds']:.0f} s)")
    return 0

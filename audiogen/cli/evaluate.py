"""Evaluate generated audio against reference audio: FAD, FAD-inf, KL, CLAP score.

Writes REPORT.json, REPORT.md (metrics table, settings, warnings) and REPORT_files/ with
spectrograms of generated/reference pairs. Runs offline. Examples:

    audiogen evaluate --generated out/ --reference data/test/ -o runs/eval.json
    audiogen evaluate --generated out/ --reference data/test/ --captions captions.jsonl \\
        --clap models/clap-htsat-unfused -o runs/eval.json
    audiogen evaluate --generated out/ --reference data/test/ --embedder codec \\
        --codec models/my-model --fad-n 100 -o runs/eval.json
    audiogen evaluate --generated out/ --reference data/test/ --embedder vggish \\
        --vggish models/vggish -o runs/eval.json

KL pairs files by name (out/dog_1.wav with data/test/dog_1.flac). See docs/evaluation.md.
"""

from __future__ import annotations

import argparse

from audiogen.cli.common import add_output_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generated", required=True, help="folder of generated audio")
    parser.add_argument("--reference", required=True, help="folder of reference audio")
    add_output_argument(parser, metavar="REPORT", help="report path (REPORT.json)")
    parser.add_argument("--captions", help="captions for the CLAP score: JSONL rows with "
                        "path + caption(s), or lines `name<TAB>caption`")
    parser.add_argument("--embedder", default="aisfx",
                        help="FAD embedder: aisfx (default), codec, clap, vggish (the paper's; "
                        "--vggish), vggish-pca, panns (--panns), passt (--passt)")
    parser.add_argument("--classifier", default="aisfx",
                        help="KL classifier: aisfx (default), judge (the corpus judge: "
                        "--classifier-weights audiogen/assets/judge), passt (the paper's: "
                        "--classifier-weights passt-s-f128-p16-s10-ap.476-swa.pt or its "
                        "directory) or none")
    parser.add_argument("--classifier-weights", help="weights directory (or file) of the KL "
                        "classifier (for classifiers that need one: judge, passt)")
    parser.add_argument("--codec", help="codec directory (for --embedder codec)")
    parser.add_argument("--clap", help="LAION-CLAP directory in transformers format "
                        "(default: ~/.cache/audiogen/clap)")
    parser.add_argument("--vggish", help="directory holding the torchvggish weights "
                        "vggish-10086976.pth (+ vggish_pca_params-970ea276.pth for vggish-pca), "
                        "or the weights file (for --embedder vggish / vggish-pca)")
    parser.add_argument("--panns", help="PANNs CNN14 checkpoint Cnn14_mAP=0.431.pth (32 kHz) or "
                        "Cnn14_16k_mAP=0.438.pth, or its directory (for --embedder panns)")
    parser.add_argument("--passt", help="PaSST checkpoint passt-s-f128-p16-s10-ap.476-swa.pt "
                        "or its directory (for --embedder passt; 768-dim per 10 s segment)")
    parser.add_argument("--sample-rate", type=int, default=16000,
                        help="resample every file to this rate first (default 16000; 0: keep "
                        "each file's rate)")
    parser.add_argument("--pooling", choices=["frames", "clip"], default="frames",
                        help="fit FAD to every embedding frame (default) or one mean per clip")
    parser.add_argument("--fad-n", type=int, help="generated clips for FAD at fixed N "
                        "(default: all)")
    parser.add_argument("--fad-inf-draws", type=int, default=3,
                        help="subsets averaged per size for FAD-inf (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of subset draws (default 0)")
    parser.add_argument("--spectrograms", type=int, default=4,
                        help="spectrogram pictures in the report (default 4; needs matplotlib: "
                        "pip install 'audiogen[eval]', or 0 for none)")
    parser.add_argument("--cache", help="directory that keeps per-file embeddings, so an "
                        "unchanged reference set is embedded only once")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's "
                        "choice; 1 is fastest on a busy machine)")


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from audiogen.eval.pipeline import EvalConfig, evaluate
    from audiogen.eval.report import write_report
    from audiogen.fileio import check_output_file
    from audiogen.plots import require_matplotlib

    check_output_file(args.output)
    if args.spectrograms > 0:
        require_matplotlib()  # fail now, not after the long measurement
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = EvalConfig(
        embedder=args.embedder,
        classifier=None if args.classifier in ("none", "") else args.classifier,
        classifier_weights=args.classifier_weights, codec=args.codec, clap=args.clap,
        vggish=args.vggish, panns=args.panns, passt=args.passt,
        sample_rate=args.sample_rate or None,
        pooling=args.pooling, fad_n=args.fad_n, fad_inf_draws=args.fad_inf_draws,
        seed=args.seed, spectrograms=args.spectrograms, cache=args.cache)
    start = time.perf_counter()
    with torch.no_grad():
        report, gen, ref = evaluate(args.generated, args.reference, cfg, captions=args.captions)
    json_path, md_path = write_report(report, gen, ref, args.output, cfg.spectrograms, cfg.seed)
    for key, label in (("fad", "FAD"), ("fad_inf", "FAD-inf"), ("kl", "KL"), ("clap", "CLAP")):
        section = report[key]
        if section.get("available"):
            print(f"{label:8s} {section['value']:.4f}")
        else:
            detail = section.get("details", "").replace("\n", " ")
            print(f"{label:8s} not available: {section.get('reason', '')}. {detail}".rstrip())
    for w in report["warnings"]:
        print(f"warning: {w}")
    print(f"wrote {json_path} and {md_path} in {time.perf_counter() - start:.1f} s")
    return 0

"""Measure the default model's card: every number in docs/model_card.md comes from here.

    .venv/bin/python tools/model_card.py prepare                 # test set, floor, ceiling
    .venv/bin/python tools/model_card.py codec [--old DIR]       # codec vs Opus, in and out of domain
    .venv/bin/python tools/model_card.py testgen --name final    # one clip per test caption
    .venv/bin/python tools/model_card.py fad                     # FAD/KL of every set so far
    .venv/bin/python tools/model_card.py prompts --name final --cfg 3   # judge agreement
    .venv/bin/python tools/model_card.py prompts --dtype int8    # the same, int8 weights
    .venv/bin/python tools/model_card.py summary                 # the tables, as Markdown

`--name NAME` picks a model: `final` is `--model` (default: the embedded default model); any
other name needs `--model DIR`, or `--checkpoint RUN/checkpoints/step_N` (its EMA weights with
the final model's codec, for comparisons at equal steps). `--dtype int8` (or bfloat16,
float16) decodes with those weights and `--seed N` draws other samples: both add to the
outputs' name (`gen_final-int8_g3`, `prompts_final-seed1_g3.json`), so they sit beside the
float32 results. Every stage writes under runs/model_card/ and skips what it already wrote
(delete a file or folder to redo it).

In-domain codec numbers come twice: on the whole test split and on the test clips whose
source files the codec never trained on (`--codec-heard` lists the others; the shipped list,
tools/model_card_codec_heard.json, says why there are any).

Sets compared by FAD (aisfx) against the test split's real audio:
- ceiling: the codec's reconstructions of the test audio (the best an LM on this codec can do);
- floor: real train-split audio of a different label for every test clip (real sound that
  ignores the caption), and floor_codec: the same through the codec (codec output that
  ignores the caption: the floor in the generations' own domain);
- gen_NAME_gG: one generation per test caption (its first caption), cropped to the clip's length.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiogen.api import DTYPES
from audiogen.audio.io import load_audio, save_audio
from audiogen.data.open_corpus.captions import ALL_CLASSES
from audiogen.fileio import write_json

AUDIOGEN = [str(Path(sys.executable).parent / "audiogen")]  # the venv's console script
PROMPTS = ROOT / "tools" / "model_card_prompts.json"
SR = 16000


def read_manifest(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def clip_name(row: dict) -> str:
    return row["id"].replace("/", "__")


def exists(target: Path) -> bool:
    """Stages skip what they already wrote: delete a file or folder to redo it."""
    found = target.exists()
    if found:
        print(f"{target} exists")
    return found


@contextlib.contextmanager
def new_folder(target: Path) -> Iterator[Path]:
    """An empty `target.tmp`, renamed onto `target` once the block finished: an interrupted
    stage leaves no half-written folder that a rerun would skip."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yield tmp
    tmp.rename(target)


def prepare(args) -> None:
    """test_audio/ + captions.tsv + labels.json, floor_audio/, and both through the codec:
    ceiling_audio/, floor_codec_audio/."""
    out, manifest = Path(args.out), Path(args.manifest)
    rows = read_manifest(manifest)
    test = [r for r in rows if r["split"] == "test"]
    train = [r for r in rows if r["split"] == "train"]
    folder = out / "test_audio"
    if not exists(folder):
        with new_folder(folder) as tmp:
            for r in test:
                shutil.copyfile(manifest.parent / r["path"], tmp / (clip_name(r) + ".flac"))
    (out / "captions.tsv").write_text("".join(f"{clip_name(r)}\t{r['captions'][0]}\n"
                                              for r in test))
    write_json(out / "labels.json", {clip_name(r): r["label"] for r in test})
    print(f"test split: {len(test)} clips, {len({r['label'] for r in test})} labels")

    floor = out / "floor_audio"
    if not exists(floor):
        rng = np.random.default_rng(0)
        with new_folder(floor) as tmp:
            for r in test:
                others = [t for t in train if t["label"] != r["label"]]
                pick = others[int(rng.integers(len(others)))]
                shutil.copyfile(manifest.parent / pick["path"], tmp / (clip_name(r) + ".flac"))

    for source, target in ((folder, out / "ceiling_audio"), (floor, out / "floor_codec_audio")):
        if not exists(target):
            reconstruct(args.model, source, target)
    print(f"wrote {folder}, {floor} and their codec reconstructions")


def reconstruct(model: str, source: Path, target: Path) -> None:
    """Every file of `source` through the codec of `model`, as `target/NAME.wav`."""
    from audiogen.codec import Codec

    codec = Codec.load(model)
    with torch.inference_mode(), new_folder(target) as tmp:
        for path in sorted(source.iterdir()):
            wav, _ = load_audio(path, SR, 1)
            rec = codec.decode(codec.encode(wav[None]))[0, :, : wav.shape[-1]]
            save_audio(tmp / (path.stem + ".wav"), rec, SR)


def codec_eval(args) -> None:
    """evaluate-codec on the test clips (in domain, whole clips) and on the recordings held out
    of all training (out of domain: an evenly spaced sample, with spectrogram pictures), the
    codec of `--model` beside `--old` (if given) and Opus."""
    models = ["--model", args.model] + (["--model", args.old] if args.old else [])
    sets = {"codec": [str(Path(args.out) / "test_audio"), "--seconds", "0"],
            "codec_unheard": [str(unheard_test_audio(args)), "--seconds", "0"],
            "codec_ood": [args.recordings, "--split", "test", "--seconds", "5",
                          "--max-files", "48", "--spectrograms", "4"]}
    if not Path(args.recordings).is_file():
        print(f"{args.recordings} missing (`audiogen data build-recordings -o recordings`): "
              "the out-of-domain set is left out")
        del sets["codec_ood"]
    for name, data in sets.items():
        target = Path(args.out) / f"{name}.json"
        if not exists(target):
            subprocess.run(AUDIOGEN + ["evaluate-codec", *models, "--data", *data, "--threads",
                                       str(args.threads), "-o", str(target)], check=True)


def heard_clips(args) -> set[str]:
    """Names (as in test_audio/) of the test clips whose source files the codec trained on."""
    if not args.codec_heard:
        return set()
    return {i.replace("/", "__") for i in json.loads(Path(args.codec_heard).read_text())["clips"]}


def unheard_test_audio(args) -> Path:
    """test_audio_unheard/: the test clips the codec never heard (`--codec-heard` lists the
    others), so that in-domain numbers are not flattered by training clips."""
    out, heard = Path(args.out), heard_clips(args)
    folder = out / "test_audio_unheard"
    if not exists(folder):
        with new_folder(folder) as tmp:
            for path in sorted((out / "test_audio").iterdir()):
                if path.stem not in heard:
                    shutil.copyfile(path, tmp / path.name)
    return folder


def model_dir(args) -> str:
    """The model of `--name`: the final model, an explicit directory, or a checkpoint."""
    if args.checkpoint:
        ckpt, out = Path(args.checkpoint), Path(args.out) / "models" / args.name
        if not (out / "lm.safetensors").is_file():
            out.mkdir(parents=True, exist_ok=True)
            for name in ("codec.json", "codec.safetensors"):
                shutil.copyfile(Path(args.model) / name, out / name)
            shutil.copyfile(ckpt / "lm.json", out / "lm.json")
            shutil.copyfile(ckpt / "ema.safetensors", out / "lm.safetensors")
        return str(out)
    return args.model


def run_name(args) -> str:
    """`--name`, plus the dtype and seed where they are not the defaults."""
    return (args.name + ("" if args.dtype == "float32" else f"-{args.dtype}")
            + (f"-seed{args.seed}" if args.seed else ""))


def load_model(args):
    from audiogen.api import AudioGen

    return AudioGen.from_pretrained(model_dir(args), device="cpu", fast=args.fast,
                                    dtype=args.dtype)


def generate_batches(model, prompts: list[str], seconds: float, cfg: float, seed: int,
                     batch: int) -> list[torch.Tensor]:
    """One `[1, T]` clip per prompt, `batch` prompts per call, seeded per call."""
    wavs: list[torch.Tensor] = []
    for start in range(0, len(prompts), batch):
        wav, _ = model.generate(prompts[start:start + batch], duration=seconds, cfg_coef=cfg,
                                seed=seed + start)
        wavs.extend(wav[:, :1])
        print(f"  {len(wavs)}/{len(prompts)}", flush=True)
    return wavs


def testgen(args) -> None:
    """gen_NAME_gCFG/: one generation per test caption, cropped to the test clip's length."""
    out = Path(args.out)
    folder = out / f"gen_{run_name(args)}_g{args.cfg:g}"
    if exists(folder):
        return
    captions = dict(line.split("\t", 1) for line in
                    (out / "captions.tsv").read_text().splitlines())
    names = sorted(captions)
    model = load_model(args)
    wavs = generate_batches(model, [captions[n] for n in names], 4.0, args.cfg, args.seed,
                            args.batch)
    with new_folder(folder) as tmp:
        for name, wav in zip(names, wavs):
            ref, _ = load_audio(out / "test_audio" / f"{name}.flac", SR, 1)
            save_audio(tmp / f"{name}.wav", wav[:, : ref.shape[-1]], SR)
    print(f"wrote {folder}")


def fad(args) -> None:
    """`audiogen evaluate` of every set against test_audio: FAD (aisfx), KL (the judge)."""
    out = Path(args.out)
    sets = ["ceiling_audio", "floor_audio", "floor_codec_audio"] + sorted(p.name for p in out.glob("gen_*"))
    for name in [s for s in sets if (out / s).is_dir() and not s.endswith(".tmp")]:
        target = out / "fad" / f"{name}.json"
        if exists(target):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(AUDIOGEN + [
            "evaluate", "--generated", str(out / name), "--reference", str(out / "test_audio"),
            "--classifier", "judge", "--classifier-weights", args.judge,
            "--captions", str(out / "captions.tsv"), "--cache", str(out / "embeddings"),
            "--threads", str(args.threads), "-o", str(target)], check=True)


def prompt_list(manifest: Path) -> tuple[list[str], list[list[str]], dict]:
    """One prompt per label of the corpus in `manifest` (in caption-table order), then the
    two-event pairs whose labels it has: (prompts, the labels each asks for, the spec)."""
    spec = json.loads(PROMPTS.read_text())
    present = {r["label"] for r in read_manifest(manifest)}
    known = [label for label in ALL_CLASSES if label in present]
    prompts = [ALL_CLASSES[label][0] for label in known]
    labels = [[label] for label in known]
    for a, b in spec["two_event"]:
        if a in present and b in present:
            prompts.append(f"{ALL_CLASSES[a][0]} while {ALL_CLASSES[b][0]}")
            labels.append([a, b])
    return prompts, labels, spec


def prompts_stage(args) -> None:
    """Judge agreement on the fixed prompt list: prompts_NAME_gCFG.json (+ the audio)."""
    from audiogen.eval.judge import Judge, judge_agreement

    out = Path(args.out)
    target = out / f"prompts_{run_name(args)}_g{args.cfg:g}.json"
    if exists(target):
        return
    prompts, labels, spec = prompt_list(Path(args.manifest))
    model = load_model(args)
    folder = out / target.stem
    folder.mkdir(parents=True, exist_ok=True)
    wavs, all_labels = [], []
    for seed in spec["seeds"]:
        clips = generate_batches(model, prompts, spec["duration"], args.cfg,
                                 1000 * seed + args.seed, args.batch)
        for i, wav in enumerate(clips):
            save_audio(folder / f"{i:02d}_seed{seed}.wav", wav, SR)
        wavs += clips
        all_labels += labels
    result = judge_agreement(Judge.from_path(args.judge), wavs, all_labels, sample_rate=SR)
    result["prompts"] = prompts
    write_json(target, result)
    print(json.dumps({k: result[k] for k in ("single_event", "two_event")}))


def references(args) -> None:
    """The judge on real audio: test clips and their codec reconstructions (single event), and
    0 dB mixes of two test clips for each two-event pair, real and through the codec."""
    from audiogen.codec import Codec
    from audiogen.eval.judge import Judge, judge_agreement

    out = Path(args.out)
    target = out / "judge_references.json"
    if exists(target):
        return
    judge, codec = Judge.from_path(args.judge), Codec.load(args.model)
    labels = json.loads((out / "labels.json").read_text())
    names = sorted(labels)
    result = {}
    heard = heard_clips(args)
    keep = [i for i, n in enumerate(names) if n not in heard]
    for kind, folder, suffix in (("real", "test_audio", ".flac"), ("codec", "ceiling_audio", ".wav")):
        wavs = [load_audio(out / folder / f"{n}{suffix}", SR, 1)[0] for n in names]
        scores = judge_agreement(judge, wavs, [[labels[n]] for n in names], sample_rate=SR)
        result[f"single_{kind}"] = scores["single_event"]
        hits = [scores["per_prompt"][i]["agrees"] for i in keep]  # the same verdicts, a subset
        result[f"single_{kind}_unheard"] = {"n": len(hits),
                                            "accuracy": round(sum(hits) / len(hits), 4)}
    by_label: dict[str, list[str]] = {}
    for n in names:
        by_label.setdefault(labels[n], []).append(n)
    _, _, spec = prompt_list(Path(args.manifest))
    mixes, pair_labels = [], []
    for a, b in spec["two_event"]:
        for k in range(min(2, len(by_label.get(a, [])), len(by_label.get(b, [])))):
            x, _ = load_audio(out / "test_audio" / f"{by_label[a][k]}.flac", SR, 1)
            y, _ = load_audio(out / "test_audio" / f"{by_label[b][k]}.flac", SR, 1)
            n = min(x.shape[-1], y.shape[-1])
            x, y = x[:, :n], y[:, :n]
            mix = x / x.pow(2).mean().sqrt().clamp_min(1e-5) + y / y.pow(2).mean().sqrt().clamp_min(1e-5)
            mixes.append(0.5 * mix / mix.abs().max().clamp_min(1e-5))
            pair_labels.append([a, b])
    with torch.inference_mode():
        coded = [codec.decode(codec.encode(m[None]))[0, :, : m.shape[-1]] for m in mixes]
    for kind, wavs in (("real", mixes), ("codec", coded)):
        result[f"two_event_{kind}"] = judge_agreement(judge, wavs, pair_labels,
                                                      sample_rate=SR)["two_event"]
    write_json(target, result)
    print(json.dumps(result))


def _value(report: dict, section: str) -> str:
    s = report.get(section) or {}
    return f"{s['value']:.3f}" if s.get("available") and "value" in s else "n/a"


def summary(args) -> None:
    """Markdown tables of everything measured so far, to runs/model_card/summary.md."""
    out = Path(args.out)
    lines = ["| set | clips | FAD (aisfx) | FAD-inf | KL (judge) |", "|---|---|---|---|---|"]
    for path in sorted((out / "fad").glob("*.json")):
        r = json.loads(path.read_text())

        lines.append(f"| {path.stem} | {r['sets']['generated'].get('files', '?')} | "
                     f"{_value(r, 'fad')} | {_value(r, 'fad_inf')} | {_value(r, 'kl')} |")
    lines += ["", "| prompts | single-event top-1 | two-event both in top-3 |", "|---|---|---|"]
    for path in sorted(out.glob("prompts_*.json")):
        r = json.loads(path.read_text())
        lines.append(f"| {path.stem} | {r['single_event']['accuracy']} (n={r['single_event']['n']})"
                     f" | {r['two_event']['both_found_rate']} (n={r['two_event']['n']}) |")
    refs = out / "judge_references.json"
    if refs.is_file():
        lines += ["", "judge references: " + refs.read_text()]
    for name in ("codec", "codec_unheard", "codec_ood"):
        if (out / f"{name}.md").is_file():
            lines += ["", (out / f"{name}.md").read_text()]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print(text)


STAGES = {"prepare": prepare, "codec": codec_eval, "testgen": testgen, "fad": fad,
          "prompts": prompts_stage, "references": references, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=list(STAGES))
    parser.add_argument("--model", default=str(ROOT / "audiogen/assets/default_model"))
    parser.add_argument("--name", default="final", help="label of the model in file names")
    parser.add_argument("--checkpoint", help="RUN/checkpoints/step_N: its EMA weights")
    parser.add_argument("--cfg", type=float, default=3.0, help="guidance coefficient")
    parser.add_argument("--manifest", default=str(ROOT / "corpus/manifest.jsonl"))
    parser.add_argument("--recordings", default=str(ROOT / "recordings/manifest.jsonl"),
                        help="`audiogen data build-recordings` manifest: its test split is the "
                        "codec's out-of-domain set")
    parser.add_argument("--judge", default=str(ROOT / "audiogen/assets/judge"),
                        help="judge directory (default: the shipped one, trained on the default "
                        "codec's reconstructions); another codec's needs its own judge")
    parser.add_argument("--codec-heard", default=str(ROOT / "tools/model_card_codec_heard.json"),
                        help="JSON list of the test clips the codec trained on ('' if none): "
                             "in-domain numbers are also given without them")
    parser.add_argument("--old", help="codec stage: a second codec (the previous one) beside it")
    parser.add_argument("--out", default=str(ROOT / "runs/model_card"))
    parser.add_argument("--batch", type=int, default=10, help="prompts per generate call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-fast", dest="fast", action="store_false",
                        help="the plain decoder instead of FastDecoder (same tokens)")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32",
                        help="the LM's weights in testgen and prompts (int8: CPU int8 kernels)")
    parser.add_argument("--seed", type=int, default=0,
                        help="added to every generation's seed in testgen and prompts: another "
                        "draw of the same sets, for the seed noise")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    STAGES[args.stage](args)


if __name__ == "__main__":
    main()

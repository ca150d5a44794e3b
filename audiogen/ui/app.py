"""The web page: generate, listen while it is made, compare; and its HTTP API.

    build_app(model, ServeConfig()) -> gradio.Blocks; `audiogen serve` launches it.

Page: prompts (one per line, several at once), negative prompt, duration, guidance, top-k /
top-p / temperature, seed (random by default; the seed used is written back into the field so
a result can be reproduced), a clip to continue (upload or microphone). While generating, the
first prompt's audio plays as it is streamed (AudioGen.generate_stream); then each result gets
a player with download and a spectrogram, and joins the list of this page's results with its
settings, from which an earlier result can be played again to compare.

Limits: concurrent requests share one decode loop of `slots` clips (continuous batching,
audiogen.generation.batching: a request joins at the next step and leaves when done); the page
and the API share one Gradio concurrency group of `slots` requests (one at a time for a model
that cannot batch continuously); others wait in the queue with their position shown; at most
`queue_size` waiting. Bad inputs raise gradio.Error: a message on the page, the server goes
on.

HTTP API (Gradio's): `/generate` takes (prompts, negative, duration, guidance, top_k, top_p,
temperature, seed, clip, keep_clip), seed null (or left out) for a random one, clip an
uploaded audio file to continue or null, and returns (list of WAV files, seed used). Values
are checked as on the command line (audiogen.generation.request), with the same messages.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from audiogen.audio.io import save_audio
from audiogen.audio.wav_stream import wav_bytes
from audiogen.errors import AudiogenError
from audiogen.fileio import slug
from audiogen.plots import spectrogram_image
from audiogen.ui.limits import Request, ServeConfig, check_inputs, parse_request

logger = logging.getLogger(__name__)

# the HTTP API's inputs, in order (its docs and check_inputs' messages name them so)
API_INPUTS = ["prompts", "negative", "duration", "guidance", "top_k", "top_p", "temperature",
              "seed", "clip", "keep_clip"]
HISTORY_COLUMNS = ["#", "time", "prompt", "negative", "seed", "duration", "guidance", "top_k",
                   "top_p", "temperature", "continuation", "file"]


class Studio:
    """The model behind the page: generations in one shared loop, results written to `out_dir`."""

    def __init__(self, model, config: ServeConfig, out_dir: str | os.PathLike | None = None):
        from audiogen.generation.shared_loop import SharedLoop

        self.model, self.config = model, config
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="audiogen-ui-"))
        # numbers the files 1, 2, ...; next() on it is atomic, and concurrent requests save
        # from several threads (a shared `count += 1` could give two files one name)
        self._numbers = itertools.count(1)
        # the decode loop concurrent requests share, or None: one request at a time
        self.loop = SharedLoop(model.lm, config.slots) if model.batches_continuously else None
        self.concurrency = config.slots if self.loop is not None else 1

    def parse(self, **fields) -> Request:
        return parse_request(self.config, self.model.config, **fields)

    def stream(self, request: Request,
               progress: Callable[[int, int], None] | None = None) -> Iterator[torch.Tensor]:
        """Chunks [B, 1, t] of the request's audio, decoded in the shared loop.

        No lock here: requests run together in the loop (or, without one, one at a time by
        the Gradio concurrency group), and a lock held across yields would stay taken by a
        stream its client abandoned; an abandoned stream's job leaves the loop.
        """
        return self.model.generate_stream(
            request.prompts, request.generation, prompt_audio=request.prompt_audio,
            prompt_sample_rate=request.prompt_sample_rate,
            include_prompt=request.include_prompt, chunk_duration=self.config.chunk_duration,
            callback=progress, loop=self.loop)

    def save(self, request: Request, wav: torch.Tensor, images: bool = True) -> list[dict]:
        """Write each clip of wav [B, 1, T] (WAV, and a spectrogram PNG when `images`);
        -> one record per clip ("image": the PNG's path, or None)."""
        records = []
        stamp = datetime.datetime.now().strftime("%H:%M:%S")
        for i, prompt in enumerate(request.prompts):
            number = next(self._numbers)
            name = f"{number:04d}_{slug(prompt or '')}_seed{request.seed}"
            path = save_audio(self.out_dir / f"{name}.wav", wav[i], self.model.sample_rate)
            image = None
            if images:
                image = self.out_dir / f"{name}.png"
                spectrogram_image([wav[i, 0]], self.model.sample_rate, image)
            records.append({"#": number, "time": stamp, "prompt": prompt or "(none)",
                            **request.settings, "file": path.name, "path": str(path),
                            "image": None if image is None else str(image)})
        return records

    def generate(self, request: Request, images: bool = True) -> tuple[torch.Tensor, list[dict]]:
        """The whole request at once: -> (wav [B, 1, T], records)."""
        wav = torch.cat(list(self.stream(request)), dim=-1)
        return wav, self.save(request, wav, images)


def _user_error(e: AudiogenError):
    import gradio as gr

    return gr.Error(str(e), print_exception=False)


def _checked_blocks(gr):
    """gr.Blocks whose events first check the shape of their inputs (`check_inputs`): a call
    with too few or too many inputs, or a clip given as a path or URL, gets a message, where
    Gradio alone answers `{"error": null}` and logs a traceback."""

    class CheckedBlocks(gr.Blocks):
        async def preprocess_data(self, block_fn, inputs, state, *args, **kwargs):
            blocks = list(block_fn.inputs)
            names = [getattr(b, "label", None) or f"input {i + 1}" for i, b in enumerate(blocks)]
            files = {n for n, b in zip(names, blocks) if isinstance(b, gr.Audio)}
            try:
                check_inputs(names, list(inputs), files)
            except AudiogenError as e:
                raise _user_error(e) from None
            return await super().preprocess_data(block_fn, inputs, state, *args, **kwargs)

    return CheckedBlocks


def build_app(model, config: ServeConfig | None = None, out_dir: str | None = None):
    """The Gradio Blocks of the page and the API for `model` (an AudioGen)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine
    import gradio as gr

    config = config or ServeConfig()
    studio = Studio(model, config, out_dir)
    gen = model.config
    cap = config.duration_cap(gen)
    # Streaming playback goes through Gradio's AAC encoder, an ffmpeg process.
    can_stream = shutil.which("ffmpeg") is not None
    if not can_stream:
        logger.warning("ffmpeg not found: the page will not play audio while it is generated")

    with _checked_blocks(gr)(title="AudioGen", delete_cache=(3600, 24 * 3600)) as demo:
        gr.Markdown("# AudioGen\nText to sound effects. One prompt per line generates several "
                    "clips at once; a clip to continue is optional.")
        with gr.Row():
            with gr.Column(scale=1):
                prompts = gr.Textbox(label="Prompts (one per line)", lines=3,
                                     placeholder="a dog barks in the rain", elem_id="prompts")
                negative = gr.Textbox(label="Negative prompt (steer away from)",
                                      elem_id="negative")
                # no minimum/maximum here: limits.py checks it and says what is allowed
                duration = gr.Number(value=min(gen.duration, cap), step=0.1,
                                     label=f"Duration (s, at most {cap:g})", elem_id="duration")
                with gr.Row():
                    seed = gr.Number(value=None, precision=0, label="Seed (the one used is "
                                     "shown here)", elem_id="seed")
                    random_seed = gr.Checkbox(value=True, label="Random seed",
                                              elem_id="random-seed")
                with gr.Accordion("Sampling", open=False):
                    guidance = gr.Number(value=gen.cfg_coef, label="Guidance scale",
                                         elem_id="guidance")
                    top_k = gr.Number(value=gen.top_k, precision=0, label="Top-k (0 = off)",
                                      elem_id="top-k")
                    top_p = gr.Number(value=gen.top_p, label="Top-p (0 = off)",
                                      elem_id="top-p")
                    temperature = gr.Number(value=gen.temperature, label="Temperature",
                                            elem_id="temperature")
                with gr.Accordion("Continue a clip", open=False):
                    clip = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                    label="Clip to continue (upload or record)", elem_id="clip")
                    keep_clip = gr.Checkbox(value=True, label="Keep the clip in the result")
                button = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column(scale=1):
                status = gr.Markdown("Ready.", elem_id="status")
                live = gr.Audio(label="Live: prompt 1, streamed while it is generated",
                                streaming=True, autoplay=True, interactive=False,
                                elem_id="live", visible=can_stream)
                slots = []
                for i in range(config.max_batch):
                    with gr.Group(visible=False) as group:
                        audio = gr.Audio(type="filepath", interactive=False,
                                         label=f"Result {i + 1}", buttons=["download"],
                                         elem_id=f"result-{i}")
                        image = gr.Image(type="filepath", interactive=False, height=160,
                                         label="Spectrogram", elem_id=f"spectrogram-{i}")
                    slots.append((group, audio, image))
        gr.Markdown("## Results of this page")
        history_table = gr.Dataframe(headers=HISTORY_COLUMNS, interactive=False,
                                     elem_id="history")
        with gr.Row():
            compare_pick = gr.Dropdown(choices=[], label="Play an earlier result to compare",
                                       elem_id="compare-pick")
            compare = gr.Audio(type="filepath", interactive=False, label="Earlier result",
                               elem_id="compare")
        downloads = gr.File(label="Downloads", file_count="multiple", elem_id="downloads")
        history = gr.State([])

        def on_generate(prompts_text, negative_text, duration_s, guidance_v, top_k_v, top_p_v,
                        temperature_v, seed_v, random_v, clip_path, keep, records,
                        progress=gr.Progress()):  # noqa: B008 (how Gradio injects it)
            try:
                request = studio.parse(
                    prompts=prompts_text, negative=negative_text, duration=duration_s,
                    guidance=guidance_v, top_k=top_k_v, top_p=top_p_v,
                    temperature=temperature_v, seed=seed_v, random_seed=random_v,
                    prompt_audio=clip_path, include_prompt=keep)
            except AudiogenError as e:
                raise _user_error(e) from None
            n = len(request.prompts)
            doing = f"Generating {n} clip(s) of {request.duration:g} s, seed {request.seed}"
            yield {seed: request.seed, status: f"{doing}..."}
            started = time.monotonic()
            chunks = []
            made = [0.0]  # share of the frames final so far

            def report(done, total):
                made[0] = done / total
                progress(made[0], desc=f"{done}/{total} frames")

            try:
                for chunk in studio.stream(request, report):
                    chunks.append(chunk)
                    update = {status: f"{doing}: {made[0]:.0%}"}
                    if can_stream:
                        update[live] = wav_bytes(chunk[0], model.sample_rate)
                    yield update
                wav = torch.cat(chunks, dim=-1)
                new = studio.save(request, wav)
            except AudiogenError as e:
                raise _user_error(e) from None
            records = records + new
            out = {history: records,
                   history_table: [[r[c] for c in HISTORY_COLUMNS] for r in records],
                   downloads: [r["path"] for r in records],
                   compare_pick: gr.Dropdown(choices=[_label(r) for r in records]),
                   status: f"Done: {n} clip(s) in {time.monotonic() - started:.1f} s, "
                           f"seed {request.seed}."}
            for i, (group, audio, image) in enumerate(slots):
                shown = i < n
                out[group] = gr.Group(visible=shown)
                out[audio] = gr.Audio(value=new[i]["path"] if shown else None,
                                      label=f"{i + 1}: {new[i]['prompt']}" if shown else None)
                out[image] = new[i]["image"] if shown else None
            yield out

        def on_compare(label, records):
            for r in records:
                if _label(r) == label:
                    return r["path"]
            return None

        outputs = [seed, status, history, history_table, downloads, compare_pick]
        outputs += [c for slot in slots for c in slot]
        if can_stream:
            outputs.append(live)
        button.click(on_generate,
                     [prompts, negative, duration, guidance, top_k, top_p, temperature, seed,
                      random_seed, clip, keep_clip, history], outputs,
                     api_name="generate_page", api_visibility="undocumented",
                     concurrency_limit=studio.concurrency, concurrency_id="model")
        compare_pick.change(on_compare, [compare_pick, history], compare, queue=False,
                            api_visibility="private")

        # --- the HTTP API: plain inputs, whole files out ---
        with gr.Group(visible=False):
            api_inputs = [gr.Textbox(), gr.Textbox(value=""), gr.Number(), gr.Number(),
                          gr.Number(), gr.Number(), gr.Number(), gr.Number(value=None),
                          gr.Audio(type="filepath"), gr.Checkbox(value=True)]
            for component, name in zip(api_inputs, API_INPUTS):
                component.label = name  # names the input in check_inputs' messages
            api_outputs = [gr.File(file_count="multiple", label="files"),
                           gr.Number(label="seed")]
            api_button = gr.Button()

        def generate(prompts: str, negative: str = "", duration: float | None = None,
                     guidance: float | None = None, top_k: int | None = None,
                     top_p: float | None = None, temperature: float | None = None,
                     seed: int | None = None, clip: str | None = None, keep_clip: bool = True):
            """One WAV per prompt line (seed None draws one), continuing `clip` when given.

            -> (files, seed used)."""
            try:
                request = studio.parse(
                    prompts=prompts, negative=negative, duration=duration, guidance=guidance,
                    top_k=top_k, top_p=top_p, temperature=temperature, seed=seed,
                    prompt_audio=clip, include_prompt=keep_clip)
                # the API returns the WAVs only: no spectrogram images (the page's history
                # shows them), which cost more CPU than decoding the audio
                _, records = studio.generate(request, images=False)
            except AudiogenError as e:
                raise _user_error(e) from None
            return [r["path"] for r in records], request.seed

        api_button.click(generate, api_inputs, api_outputs, api_name="generate",
                         concurrency_limit=studio.concurrency, concurrency_id="model")
    demo.queue(max_size=config.queue_size, default_concurrency_limit=1)
    demo.studio = studio  # for tests and embedding
    return demo


def _label(record: dict) -> str:
    return f"#{record['#']} {record['prompt']} (seed {record['seed']})"

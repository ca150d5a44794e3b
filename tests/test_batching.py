"""Continuous batching (audiogen.generation.batching) against solo runs, on a tiny real model.

Requests of different texts, durations (some past the 1 s window: sliding windows), guidance,
negative prompts, seeds and continuation prompts share one loop with fewer slots than
requests, so some join mid-way while others run.
"""

import itertools
import threading
import time

import pytest
import torch
from tiny_model import tiny_model_dir

from audiogen.api import AudioGen
from audiogen.errors import AudiogenError
from audiogen.generation import GenerationRequest, batching, generator
from audiogen.generation.batching import Job, Scheduler
from audiogen.generation.shared_loop import SharedLoop

REQUESTS = [  # (texts, settings)
    (["a dog barks"], {"duration": 0.5, "seed": 1}),
    (["rain on a tin roof"], {"duration": 2.3, "seed": 2, "negative_prompt": "wind"}),
    (["thunder"], {"duration": 0.8, "seed": 3, "cfg_coef": 1.0}),
    (["a bell rings", "a car horn"], {"duration": 1.7, "seed": 4, "cfg_coef": 5.0,
                                      "top_k": 5}),
    ([None], {"duration": 0.6, "seed": 5, "top_p": 0.9}),
]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return AudioGen.from_pretrained(tiny_model_dir(tmp_path_factory.mktemp("model")),
                                    device="cpu")


def _solo(model, texts, settings, prompt=None):
    return model.generate_codes(texts, model.resolve(GenerationRequest(**settings)), prompt)


def _batched(model, requests, slots=3, prompts=None):
    jobs = [Job(texts, model.resolve(GenerationRequest(**settings)),
                None if prompts is None else prompts[i])
            for i, (texts, settings) in enumerate(requests)]
    ended = list(Scheduler(model.lm, slots).run(jobs))
    assert sorted(map(id, ended)) == sorted(map(id, jobs))
    assert all(j.done and j.error is None and j.final == j.request.num_frames for j in jobs)
    return jobs


def test_greedy_tokens_equal_solo_runs(model):
    requests = [(t, {**s, "temperature": 0.0}) for t, s in REQUESTS]
    for job, (texts, settings) in zip(_batched(model, requests), requests):
        assert torch.equal(job.codes, _solo(model, texts, settings))


def test_continuations_equal_solo_runs(model):
    requests = [(["a dog barks"], {"duration": 1.6, "seed": 1, "temperature": 0.0}),
                (["rain"], {"duration": 0.9, "seed": 2})]
    torch.manual_seed(0)
    prompts = [torch.randint(0, 16, (1, 4, 30)), torch.randint(0, 16, (1, 4, 10))]
    jobs = _batched(model, requests, slots=1, prompts=prompts)
    for job, (texts, settings), prompt in zip(jobs, requests, prompts):
        assert torch.equal(job.codes[..., :prompt.shape[-1]], prompt)
        assert torch.equal(job.codes, _solo(model, texts, settings, prompt))


def _spy_logits(monkeypatch, module, record):
    original = module.write_step

    def spy(seq, step, logits, *args):
        # keyed by the window's sequence, kept alive so that its id is not reused
        record.setdefault(id(seq), [seq]).append(logits.clone())
        return original(seq, step, logits, *args)

    monkeypatch.setattr(module, "write_step", spy)


def test_how_far_sampled_outputs_depend_on_batch_composition(model, monkeypatch):
    """Each job draws from its own generator, so batch composition reaches its samples only
    through the logits' float rounding: on a CPU in float32 a row's logits are not bitwise
    those of a solo run (masked attention over the whole cache row, products over more rows),
    but within 2e-6 here (measured: at most 1.1e-6); the tokens drawn agree (measured: all)."""
    batched, solo = {}, {}
    _spy_logits(monkeypatch, batching, batched)
    jobs = _batched(model, REQUESTS)
    _spy_logits(monkeypatch, generator, solo)
    agree = total = 0
    for job, (texts, settings) in zip(jobs, REQUESTS):
        solo.clear()
        codes = _solo(model, texts, settings)
        agree += (job.codes == codes).sum().item()
        total += codes.numel()
        ours = [x for _, *steps in batched.values() for x in steps if x.shape[0] == job._rows]
        for _, *window_steps in solo.values():  # the first matching run of logits
            found = [ours[i:i + len(window_steps)] for i in range(len(ours))
                     if ours[i].shape == window_steps[0].shape
                     and (ours[i] - window_steps[0]).abs().max() < 1e-4]
            assert found, "a solo window's logits appear in the batched run"
            diff = max((a - b).abs().max().item() for a, b in zip(found[0], window_steps))
            assert diff < 2e-6
    assert agree / total >= 0.99


def test_codes_are_published_while_the_job_runs(model):
    job = Job(["a dog barks"], model.resolve(GenerationRequest(duration=1.5, seed=0)),
              publish_frames=10)
    scheduler = Scheduler(model.lm, slots=2)
    scheduler.submit(job)
    seen = []
    while scheduler.busy:
        scheduler.step()
        seen.append(job.final)
    assert seen[-1] == 75 and job.done
    partial = sorted({f for f in seen if 0 < f < 75})
    assert partial and all(b - a >= 10 for a, b in itertools.pairwise(partial))


def test_jobs_are_pulled_only_as_slots_free_up(model):
    pulled = []

    def jobs():
        for i in range(6):
            pulled.append(i)
            yield Job([f"sound {i}"], model.resolve(GenerationRequest(duration=0.3, seed=i)))

    scheduler = Scheduler(model.lm, slots=2)
    for i, _ in enumerate(scheduler.run(jobs())):
        if i == 0:
            assert len(pulled) <= 3  # two running, at most one waiting
    assert len(pulled) == 6


def test_a_cancelled_job_leaves_and_the_others_are_unchanged(model):
    requests = [(t, {**s, "temperature": 0.0}) for t, s in REQUESTS[:3]]
    jobs = [Job(t, model.resolve(GenerationRequest(**s))) for t, s in requests]
    scheduler = Scheduler(model.lm, slots=3)
    for job in jobs:
        scheduler.submit(job)
    for _ in range(5):
        scheduler.step()
    jobs[1].cancel()
    while scheduler.busy:
        scheduler.step()
    assert jobs[1].done and jobs[1].final < jobs[1].request.num_frames
    for i in (0, 2):
        assert torch.equal(jobs[i].codes, _solo(model, *requests[i]))


def test_bad_uses_are_clear_errors(model, tmp_path):
    scheduler = Scheduler(model.lm, slots=1)
    with pytest.raises(AudiogenError, match="2 prompts in one request, but the loop has 1"):
        scheduler.submit(Job(["a", "b"], model.resolve(GenerationRequest())))
    plain = AudioGen.from_pretrained(tiny_model_dir(tmp_path), device="cpu", fast=False)
    with pytest.raises(AudiogenError, match="fast decoder"):
        Scheduler(plain.lm, slots=1)


def test_concurrent_streams_through_a_shared_loop_equal_solo_streams(model):
    """Two callers in two threads, one loop: each stream, joined, is its solo stream (greedy:
    the same codes; the audio up to float rounding), a continuation's included."""
    loop = SharedLoop(model.lm, slots=3)
    prompt = 0.1 * torch.randn(1, 8000)
    calls = [(["a dog barks", "rain"], {"duration": 2.3, "seed": 1, "temperature": 0.0}),
             (["thunder"], {"duration": 1.6, "seed": 2, "temperature": 0.0,
                            "prompt_audio": prompt, "prompt_sample_rate": 16000,
                            "include_prompt": False})]
    out = [None, None]

    def run(i):
        texts, kwargs = calls[i]
        out[i] = torch.cat(list(model.generate_stream(texts, chunk_duration=0.2, loop=loop,
                                                      **kwargs)), dim=-1)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for (texts, kwargs), wav in zip(calls, out):
        ref = torch.cat(list(model.generate_stream(texts, chunk_duration=0.2, **kwargs)), -1)
        assert wav.shape == ref.shape and (wav - ref).abs().max() < 1e-4


def test_callers_of_a_shared_loop_take_turns_with_the_codec(model, monkeypatch):
    """At most `codec_turn`'s count of callers decode audio at once (here 1, as on 2 cores),
    so they do not take the decode loop's core."""
    from audiogen.codec.chunked import StreamingDecoder

    loop = SharedLoop(model.lm, slots=3)
    loop.codec_turn = threading.BoundedSemaphore(1)
    active, most, lock = [0], [0], threading.Lock()
    push = StreamingDecoder.push

    def counted(self, codes):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            threading.Event().wait(0.01)  # time for the other callers to come in
            return push(self, codes)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(StreamingDecoder, "push", counted)
    out = [None] * 3

    def run(i):
        out[i] = torch.cat(list(model.generate_stream(f"sound {i}", duration=0.6, seed=i,
                                                      chunk_duration=0.1, loop=loop)), -1)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [tuple(w.shape) for w in out] == [(1, 1, 9600)] * 3
    assert most[0] == 1


def test_an_abandoned_stream_leaves_the_loop(model):
    loop = SharedLoop(model.lm, slots=1)
    stream = model.generate_stream("a bell", duration=2.0, chunk_duration=0.1, loop=loop)
    next(stream)
    stream.close()
    wav = torch.cat(list(model.generate_stream("a dog", duration=0.3, loop=loop)), -1)
    assert wav.shape == (1, 1, 4800)  # the one slot was free again
    # the job leaves at the step boundary after its last frames, which the stream may beat
    deadline = time.monotonic() + 10
    while loop.scheduler.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not loop.scheduler.busy


def test_long_prompt_lists_run_in_batches_through_the_loop(model, monkeypatch):
    """More texts than max_batch: batches of max_batch, batch j seeded with seed + j, so each
    batch's greedy output is that of the batch alone."""
    model.max_batch = 2
    slots = []
    original = Scheduler.__init__

    def spy(self, decoder, n):
        slots.append(n)
        original(self, decoder, n)

    monkeypatch.setattr(Scheduler, "__init__", spy)
    texts = [f"sound {i}" for i in range(5)]
    try:
        wav, _ = model.generate(texts, duration=0.4, seed=3, temperature=0.0)
        sampled, _ = model.generate(texts, duration=0.4, seed=3)
    finally:
        model.max_batch = 16
    assert slots == [2, 2] and wav.shape == (5, 1, 6400)
    for j, first in enumerate(range(0, 5, 2)):
        alone, _ = model.generate(texts[first:first + 2], duration=0.4, seed=3 + j,
                                  temperature=0.0)
        assert (wav[first:first + 2] - alone).abs().max() < 1e-4
        alone, _ = model.generate(texts[first:first + 2], duration=0.4, seed=3 + j)
        assert (sampled[first:first + 2] - alone).abs().max() < 1e-4  # as measured above


def test_a_failing_step_ends_every_job_with_the_error_and_the_loop_goes_on(model, monkeypatch):
    loop = SharedLoop(model.lm, slots=2)
    calls = [0]
    original = Scheduler._leave

    def broken(self):
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("out of memory")
        return original(self)

    monkeypatch.setattr(Scheduler, "_leave", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        list(model.generate_stream("a bell", duration=0.5, loop=loop))
    wav = torch.cat(list(model.generate_stream("a dog", duration=0.3, loop=loop)), -1)
    assert wav.shape == (1, 1, 4800)

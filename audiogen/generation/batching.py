"""Continuous batching: one decode loop over a fixed number of slots, shared by many requests.

At batch 1 a decoding step reads every weight to compute two rows (cond + uncond); reading
them once for the rows of several requests costs little more. The `Scheduler` keeps one KV
cache of `2 * slots` rows (a clip takes 1 row, 2 under guidance); each `Job` (a request: its
texts, settings, seed, prompt) holds a contiguous block of rows. At each step boundary waiting
jobs join into free rows (their prompt prefilled on their rows alone) and finished ones leave
(the rows after them move down, so the active rows stay packed); then one LM call advances
every active row by one step, each row at its own position in the cache (the transformer's
per-row static mode), and each job chooses its tokens from its own rows' logits with its own
torch.Generator (`write_step`, as the solo loop).

    scheduler = Scheduler(fast_decoder, slots=8)
    for job in scheduler.run(jobs):       # jobs: any iterable; pulled as rows free up
        job.codes                          # [B, K, T], final

Each job follows the solo path step for step: the same delay pattern (its own step counter),
the same sliding windows past the trained window (`plan_windows`; a window change re-prefills
the job's rows from its context), the same sequence of draws from its generator. What differs
from a solo run is the float rounding of the LM's sums (a masked attention over the whole
cache row, a product over more rows): tests/test_batching.py measures it; greedy tokens are
equal. Codes become readable (`Job.codes`, `Job.final`) as their frames are final, so a
consumer in another thread can decode audio while the loop runs.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence

import torch

from audiogen.errors import AudiogenError
from audiogen.generation.generator import (
           DecodePlan,
           new_sequence,
           prepare_condition,
           write_step,
)
from audiogen.generation.long_form import plan_windows
from audiogen.generation.request import ResolvedRequest
from audiogen.lm.transformer import CrossKV, sinusoidal_embedding


class Job:
    """One request in the loop: codes for `texts` under `request`, optionally continuing
    `prompt` codes `[B, K, P]`. Made by any thread; decoded by the scheduler's.

    codes [B, K, T] (once the job has joined): frames 0 .. final - 1 are final;
    `wait(have)` blocks until more are, or the job ended (`done`, `error`).
    publish_frames: final frames are published in pieces of at least this many (bar the last).
    """

    def __init__(self, texts: Sequence[str | None], request: ResolvedRequest,
                 prompt: torch.Tensor | None = None, publish_frames: int = 1):
        self.texts = list(texts)
        self.request = request
        self.prompt = prompt
        self.publish_frames = publish_frames
        self.final = 0  # frames final in `codes` (the prompt's once the job has joined)
        self.codes: torch.Tensor | None = None  # allocated when the job joins
        self.error: BaseException | None = None
        self.done = False
        self.cancelled = False
        self._changed = threading.Condition()
        # the decode state, owned by the scheduler's thread
        self._windows = plan_windows(request.num_frames, request.window, request.stride,
                                     0 if prompt is None else prompt.shape[-1])
        self._window = -1  # index into _windows of the current window
        self._window_due = True  # the next window starts at the next step boundary
        self._finished = False  # every frame written (or failed): leaves at the boundary
        self._plan: DecodePlan | None = None
        self._seq: torch.Tensor | None = None  # [B, K, S] of the current window
        self._step = 0  # next pattern step to sample in the current window
        self._guidance: float | None = None
        self._generator: torch.Generator | None = None
        self._rows = 0  # cache rows: B, or 2B under guidance

    @property
    def batch(self) -> int:
        return len(self.texts)

    def cancel(self) -> None:
        """Leave at the next step boundary (a client gone); no error is raised."""
        self.cancelled = True

    def wait(self, have: int, timeout: float | None = None) -> None:
        """Block until more than `have` frames are final or the job ended."""
        with self._changed:
            self._changed.wait_for(lambda: self.final > have or self.done, timeout)

    def _publish(self, final: int) -> None:
        """Frames up to `final` are written in `codes`: tell the consumer."""
        with self._changed:
            self.final = final
            self._changed.notify_all()

    def _notify(self, done: bool = False, error: BaseException | None = None) -> None:
        with self._changed:
            self.error = error or self.error
            self.done = self.done or done
            self._changed.notify_all()


class Scheduler:
    """The shared decode loop over `slots` clips (2 * slots cache rows) of a FastDecoder.

    One thread runs `step` (or `run`); `submit` and `Job.cancel` may be called from any.
    """

    def __init__(self, decoder, slots: int):
        from audiogen.generation.fast import FastDecoder

        if not isinstance(decoder, FastDecoder):
            raise AudiogenError("continuous batching runs on the fast decoder: load the model "
                                "with fast=True (the default).")
        if decoder.config.text_prefix:
            raise AudiogenError("continuous batching needs a model conditioned by "
                                "cross-attention; this one takes its text as a prefix.")
        if slots < 1:
            raise AudiogenError(f"continuous batching needs at least 1 slot, got {slots}.")
        self.decoder = decoder
        self.slots = slots
        self.device = next(decoder.parameters()).device
        self._waiting: deque[Job] = deque()
        self._jobs: list[Job] = []  # active, in row order (rows packed from 0)
        self._lock = threading.Lock()  # guards _waiting (jobs are submitted from any thread)
        rows = 2 * slots
        self._position = torch.zeros(rows, dtype=torch.long, device=self.device)  # per row
        self._k = self._v = None  # [layers, rows, H, max_len, d], allocated on the first join
        self._sinusoids: torch.Tensor | None = None  # [max_len, D]
        self._cross: list[list[torch.Tensor]] | None = None  # per layer [k, v] [rows, H, L, d]
        self._cross_mask: torch.Tensor | None = None  # [rows, 1, 1, L] additive (0 or -inf)

    # --- the outside: submit and run ---
    def submit(self, job: Job) -> Job:
        """Queue `job` (any thread); it joins at a step boundary when rows are free."""
        if job.batch > self.slots:
            raise AudiogenError(f"{job.batch} prompts in one request, but the loop has "
                                f"{self.slots} slots: send at most {self.slots} at once.")
        with self._lock:
            self._waiting.append(job)
        return job

    @property
    def busy(self) -> bool:
        return bool(self._jobs or self._waiting)

    def run(self, jobs: Iterable[Job] = ()) -> Iterator[Job]:
        """Step until `jobs` and everything submitted are done, yielding each job as it ends.
        `jobs` is pulled only as rows free up, so a long iterable is never held at once."""
        pending = iter(jobs)
        more = True
        while True:
            while more and self._rows_used() + sum(2 * j.batch for j in self._waiting) \
                    < 2 * self.slots:
                job = next(pending, None)
                more = job is not None
                if more:
                    self.submit(job)
            if not self.busy:
                return
            yield from self.step()

    def step(self) -> list[Job]:
        """One step boundary: jobs join and leave, then every active row advances one step.
        -> the jobs that ended (finished, cancelled or failed)."""
        with torch.inference_mode():
            ended = self._admit()
            for job in self._jobs:
                while job._window_due and not job._finished:
                    self._guarded(job, self._start_window)
            ended += self._leave()
            if self._jobs:
                try:
                    self._advance_all()
                except Exception as e:  # noqa: BLE001 (every job in the step gets the error)
                    for job in self._jobs:
                        job._finished, job.error = True, e
                ended += self._leave()
        return ended

    def fail_all(self, error: BaseException) -> None:
        """End every job, active or waiting, with `error` and free all rows (after a failure
        the loop's own state cannot be trusted)."""
        with self._lock:
            jobs, self._waiting = [*self._jobs, *self._waiting], deque()
        self._jobs = []
        for job in jobs:
            job._finished = True
            job._notify(done=True, error=error)

    # --- joining and leaving ---
    def _rows_used(self) -> int:
        return sum(j._rows for j in self._jobs)

    def _rows_of(self, job: Job) -> slice:
        first = 0
        for other in self._jobs:
            if other is job:
                break
            first += other._rows
        return slice(first, first + job._rows)

    def _guarded(self, job: Job, work) -> bool:
        """work(job); an error ends that job only (its consumer gets it)."""
        try:
            work(job)
            return True
        except Exception as e:  # noqa: BLE001
            job._finished, job.error = True, e
            return False

    def _admit(self) -> list[Job]:
        """Waiting jobs join, first come first served, while their rows fit."""
        ended = []
        while True:
            with self._lock:
                if not self._waiting:
                    return ended
                job = self._waiting[0]
                if not job.cancelled and 2 * job.batch > 2 * self.slots - self._rows_used():
                    return ended  # it waits for rows; the ones behind it wait too
                self._waiting.popleft()
            if not job.cancelled and self._guarded(job, self._join):
                self._jobs.append(job)
            else:
                job._notify(done=True)
                ended.append(job)

    def _join(self, job: Job) -> None:
        """Condition the job's texts, seed its generator, give it the rows after the active
        ones; its first window starts at this step boundary."""
        r = job.request
        cond, job._guidance = prepare_condition(self.decoder, job.texts, r.negative_prompt,
                                                r.cfg_coef)
        job._generator = r.generator(self.device)
        c = self.decoder.config
        job.codes = torch.zeros(job.batch, c.num_codebooks, r.num_frames, dtype=torch.long,
                                device=self.device)
        if job.prompt is not None:
            job.codes[..., :job.prompt.shape[-1]] = job.prompt.to(self.device)
            job._publish(job.prompt.shape[-1])
        first = self._rows_used()
        job._rows = cond.batch_size
        steps = max(self.decoder.pattern.num_steps(end - start)
                    for start, _, end in job._windows)
        self._reserve(steps, self.decoder.cross_kv(cond), slice(first, first + job._rows))

    def _leave(self) -> list[Job]:
        """Ended jobs leave; the rows after each move down, so the active rows stay packed."""
        ended = []
        for job in [j for j in self._jobs if j._finished or j.cancelled]:
            rows, used = self._rows_of(job), self._rows_used()
            for t, dim in self._row_buffers():
                after = t.narrow(dim, rows.stop, used - rows.stop).clone()
                t.narrow(dim, rows.start, used - rows.stop).copy_(after)
            self._jobs.remove(job)
            job._notify(done=True)
            ended.append(job)
        return ended

    def _row_buffers(self) -> list[tuple[torch.Tensor, int]]:
        """Every buffer that holds one entry per cache row, with the dimension of the rows."""
        out = [(self._k, 1), (self._v, 1), (self._position, 0)]
        if self._cross is not None:
            out += [(t, 0) for kv in self._cross for t in kv] + [(self._cross_mask, 0)]
        return out

    def _reserve(self, steps: int, cross, rows: slice) -> None:
        """Buffers grown to `steps` cache positions and to the text length of `cross` (the
        joining job's CrossKV, or None), which is copied into `rows` with the rest of the
        text positions masked."""
        c = self.decoder.config
        if self._k is None:
            shape = (c.num_layers, 2 * self.slots, c.num_heads, 0, c.head_dim)
            self._k = torch.zeros(shape, dtype=self.decoder.act_dtype, device=self.device)
            self._v = torch.zeros_like(self._k)
        if self._k.shape[3] < steps:  # jobs mid-way keep their keys/values
            self._k, self._v = _grown(self._k, 3, steps), _grown(self._v, 3, steps)
            self._sinusoids = sinusoidal_embedding(torch.arange(steps, device=self.device),
                                                   c.dim, c.max_period)
        if cross is None:
            return
        length = cross.kv[0][0].shape[2]
        if self._cross is None:
            self._cross = [[torch.zeros(2 * self.slots, *k.shape[1:], dtype=k.dtype,
                                        device=self.device) for k in kv] for kv in cross.kv]
            self._cross_mask = torch.full((2 * self.slots, 1, 1, length), float("-inf"),
                                          dtype=cross.kv[0][0].dtype, device=self.device)
        if self._cross[0][0].shape[2] < length:
            self._cross = [[_grown(t, 2, length) for t in kv] for kv in self._cross]
            self._cross_mask = _grown(self._cross_mask, 3, length, float("-inf"))
        for (k, v), (new_k, new_v) in zip(self._cross, cross.kv):
            k[rows, :, :length] = new_k
            v[rows, :, :length] = new_v
        # the job's own mask (0 / -inf) over its text, or none (the reference's way: every
        # position of its padded text is attended); longer texts' extra positions: hidden
        self._cross_mask[rows] = float("-inf")
        self._cross_mask[rows, ..., :length] = 0.0 if cross.mask is None else cross.mask

    # --- decoding ---
    def _step_rows(self, tokens: torch.Tensor, rows: slice, keys: int) -> torch.Tensor:
        """tokens [len(rows), K, n] at each row's position -> the last logits [rows, K, card]
        float32; the rows' positions advance by n. keys: no row's position + n exceeds it,
        so attention reads the first `keys` cache positions only (a host-side bound: the
        rows' step counters), not the whole buffer."""
        cross = None
        if self._cross is not None:
            cross = CrossKV([(k[rows], v[rows]) for k, v in self._cross], self._cross_mask[rows])
        logits = self.decoder.step_rows(tokens, self._k[:, rows, :, :keys],
                                        self._v[:, rows, :, :keys], cross,
                                        self._position[rows, None], self._sinusoids)
        self._position[rows] += tokens.shape[-1]
        return logits[:, :, -1].float()

    def _inputs(self, job: Job, tokens: torch.Tensor) -> torch.Tensor:
        """A job's tokens [B, K, n], doubled for its unconditional rows under guidance."""
        return tokens if job._guidance is None else torch.cat([tokens, tokens])

    def _start_window(self, job: Job) -> None:
        """Prefill the job's rows with its next window's known steps (its context), then
        choose that window's first tokens."""
        job._window += 1
        job._window_due = False
        start, known, end = job._windows[job._window]
        context = None if known == start else job.codes[..., start:known]
        c = self.decoder.config
        job._plan = DecodePlan.build(self.decoder.pattern, c.num_codebooks, end - start,
                                     known - start, self.device)
        job._seq = new_sequence(self.decoder.pattern, job.batch, c.num_codebooks, end - start,
                                context, c.card, self.device)
        job._step = job._plan.first_step
        rows = self._rows_of(job)
        self._position[rows] = 0
        logits = self._step_rows(self._inputs(job, job._seq[:, :, :job._step]), rows,
                                 job._step)
        self._write(job, logits)

    def _advance_all(self) -> None:
        """One LM call for every active row (one new step each), then each job's tokens."""
        tokens = torch.cat([self._inputs(j, j._seq[:, :, j._step - 1:j._step])
                            for j in self._jobs])
        # a job about to sample step s feeds step s - 1, at cache position s - 1
        logits = self._step_rows(tokens, slice(0, tokens.shape[0]),
                                 max(j._step for j in self._jobs))
        first = 0
        for job in self._jobs:
            self._guarded(job, lambda j, lo=first: self._write(j, logits[lo:lo + j._rows]))
            first += job._rows

    def _write(self, job: Job, logits: torch.Tensor) -> None:
        """The job's tokens for its current step from its rows' logits (its own generator),
        then its newly final frames published; at a window's end, the next is due."""
        r, plan = job.request, job._plan
        write_step(job._seq, job._step, logits, plan, job._guidance, r.sampling,
                   job._generator, self.decoder.config.card)
        start, _, end = job._windows[job._window]
        final = start + plan.frames_final[job._step]
        job._step += 1
        window_done = job._step == plan.num_steps
        if final > job.final and (window_done or final - job.final >= job.publish_frames):
            codes = self.decoder.pattern.revert(job._seq, end - start)
            job.codes[..., job.final:final] = codes[..., job.final - start:final - start]
            job._publish(final)
        if window_done:
            job._window_due = job._window + 1 < len(job._windows)
            job._finished = not job._window_due


def _grown(t: torch.Tensor, dim: int, size: int, fill: float = 0.0) -> torch.Tensor:
    """`t` extended along `dim` to `size` entries of `fill`."""
    shape = list(t.shape)
    shape[dim] = size - t.shape[dim]
    return torch.cat([t, t.new_full(shape, fill)], dim)

"""AudioGen's mixing augmentation (AudioGen paper), applied to whole batches.

With probability `prob`, a batch of B segments becomes k = keep_ratio * B mixtures of two
different clips of the batch ("a dog barks and a trumpet plays"); otherwise k random clips are
kept unchanged, so the output always has k items. Per mixture:

    source s, target t ──peak-normalise──RMS to -25 dBFS──┐
    t scaled to the batch's SNR: 20 log10(rms(s) / rms(t)) = snr_db
                   0          offset            Ls        offset+Lt
    source         |==========================|
    target                    |=============================|
                              └ overlap >= min_overlap * min(Ls, Lt)
    mix = s + t (truncated at the segment length), rescaled to a random RMS in
    [out_rms_low, out_rms_high] dBFS, then scaled down if a sample would exceed clip_threshold.

All levels are measured over the valid samples of each clip (padding excluded). Every random
draw comes from the `torch.Generator` passed in, so a batch mixes the same way given the same
generator state. Apply it in the training process (not in loader workers), seeding the
generator per step, e.g. `torch.Generator().manual_seed(seed * 1_000_003 + step)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from audiogen.audio.io import loudness_normalize, peak_normalize, rms_db
from audiogen.data.dataset import AudioBatch
from audiogen.errors import AudiogenError
from audiogen.text.captions import join_captions


@dataclass
class MixingConfig:
    enabled: bool = True  # on for training by default; off = batches pass through unchanged
    prob: float = 0.5  # chance that a batch is mixed
    keep_ratio: float = 0.5  # output size k = keep_ratio * B, mixed or not (the paper: B/2)
    snr_low: float = -5.0  # dB; one SNR per batch drawn uniformly in [snr_low, snr_high]
    snr_high: float = 5.0
    min_overlap: float = 0.5  # share of the shorter clip that must overlap the other
    pre_rms_db: float = -25.0  # both clips are set to this RMS (dBFS) before mixing
    out_rms_low: float = -35.0  # the mix is rescaled to an RMS drawn in [low, high] dBFS
    out_rms_high: float = -15.0
    clip_threshold: float = 0.99  # the mix is scaled down so no sample exceeds this

    def __post_init__(self) -> None:
        if not 0 <= self.prob <= 1 or not 0 < self.keep_ratio <= 1:
            raise AudiogenError("mixing: prob must be in [0, 1] and keep_ratio in (0, 1].")
        if self.snr_low > self.snr_high or self.out_rms_low > self.out_rms_high:
            raise AudiogenError("mixing: each range needs low <= high.")
        if not 0 < self.min_overlap <= 1:
            raise AudiogenError("mixing: min_overlap must be in (0, 1].")

    def output_size(self, batch_size: int) -> int:
        """Items out of a batch of `batch_size` (load 1/keep_ratio times the batch you want)."""
        if not self.enabled:
            return batch_size
        return max(1, int(self.keep_ratio * batch_size))


class BatchMixer:
    """`mixer(batch, generator) -> batch` implementing `MixingConfig` (see the module doc)."""

    def __init__(self, config: MixingConfig | None = None):
        self.config = config or MixingConfig()

    def __call__(self, batch: AudioBatch, generator: torch.Generator | None = None) -> AudioBatch:
        cfg = self.config
        if not cfg.enabled:
            return batch
        if batch.wav.shape[1] != 1:
            raise AudiogenError(f"mixing needs mono audio [B, 1, T], got {tuple(batch.wav.shape)}")
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        B, k = len(batch), cfg.output_size(len(batch))

        def uniform(low: float, high: float) -> float:
            return low + (high - low) * torch.rand((), generator=g).item()

        mix_now = torch.rand((), generator=g).item() < cfg.prob
        if not mix_now or B < 2:
            keep = torch.randperm(B, generator=g)[:k].tolist()
            return AudioBatch(batch.wav[keep], batch.lengths[keep],
                              [batch.captions[i] for i in keep], batch.skipped,
                              info={"kept": keep})
        snr_db = uniform(cfg.snr_low, cfg.snr_high)
        sources = torch.randperm(B, generator=g)[:k]
        # each target is another clip of the batch, never the source itself
        targets = (sources + 1 + torch.randint(B - 1, (k,), generator=g)) % B
        wavs, lengths, captions, pairs = [], [], [], []
        for i, j in zip(sources.tolist(), targets.tolist()):
            ls, lt = int(batch.lengths[i]), int(batch.lengths[j])
            latest = ls - math.ceil(cfg.min_overlap * min(ls, lt))
            offset = int(torch.randint(latest + 1, (), generator=g)) if latest > 0 else 0
            out_db = uniform(cfg.out_rms_low, cfg.out_rms_high)
            wav, length = self.mix_pair(batch.wav[i, 0, :ls], batch.wav[j, 0, :lt], snr_db,
                                        offset, out_db, batch.wav.shape[-1])
            wavs.append(wav)
            lengths.append(length)
            captions.append(join_captions(batch.captions[i], batch.captions[j]))
            pairs.append((i, j, offset, out_db))
        return AudioBatch(torch.stack(wavs)[:, None], torch.tensor(lengths, dtype=torch.long),
                          captions, batch.skipped, mixed=True,
                          info={"snr_db": snr_db, "pairs": pairs})

    def mix_pair(self, source: torch.Tensor, target: torch.Tensor, snr_db: float, offset: int,
                 out_rms_db: float, size: int) -> tuple[torch.Tensor, int]:
        """Mix two valid-only clips `[Ls]`, `[Lt]` into `[size]`; returns (mix, valid length)."""
        cfg = self.config
        s = self._level(source, cfg.pre_rms_db)
        t = self._level(target, cfg.pre_rms_db - snr_db)
        length = min(size, max(s.shape[-1], offset + t.shape[-1]))
        mix = source.new_zeros(size)
        mix[:s.shape[-1]] += s
        n = min(t.shape[-1], size - offset)
        mix[offset:offset + n] += t[:n]
        mix[:length] = self._level(mix[:length], out_rms_db)
        peak = mix.abs().max()
        if peak > cfg.clip_threshold:
            mix = mix * (cfg.clip_threshold / peak)
        return mix, length

    @staticmethod
    def _level(wav: torch.Tensor, db: float) -> torch.Tensor:
        """Peak-normalise `wav [T]`, then set its RMS to `db` dBFS (silence stays silent)."""
        wav = peak_normalize(wav)
        if rms_db(wav[None]).item() <= -99:  # silence: no gain would bring it to `db`
            return wav
        return loudness_normalize(wav[None], db, avoid_clipping=False)[0]

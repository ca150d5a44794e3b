"""Codec decoding in pieces: bounded memory for long outputs, and audio while codes arrive.

The SEANet decoder is non-causal and has an LSTM, so a piece of codes cannot simply be decoded
on its own. It splits into three stages, each handled exactly:

    latent [B, D, F] -> head (conv k7)  -> LSTM (+skip) -> tail (upsampling blocks, conv k7)
                        finite reach       causal, state   finite reach
                        both sides         carried over    both sides

- head and tail are convolutions: the output for frames [a, b) depends only on inputs in
  [a - left, b + right) frames, `left`/`right` being their reach (an upper bound computed from
  the layers' kernels, strides and padding). Each piece is run with that much context on both
  sides and the context's output is cut off; at the true ends of the signal the piece is cut
  where the signal ends, so it sees the same padding as the whole-signal pass.
- the LSTM runs forward only, so carrying its (h, c) state from one piece to the next gives
  the whole-signal result; it sees every frame exactly once.

Audio for frame t is therefore final once frames up to t + head_right + tail_right are known,
and the pieces joined equal the whole-signal decoding up to float rounding (no cross-fade is
needed: there is no seam). Memory holds the LSTM state and a few frames of context.

The Vocos decoder (audiogen/codec/vocos.py) has no recurrent part: its head is empty and the
whole decoder is the tail, whose reach is its convolutions' plus the iSTFT's window overlap
(`VocosDecoder.reach`); its padding of the latent at the ends is seen only by the pieces that
hold the true ends, as in the whole-signal pass.

    frames known:   |=============================|
    head + LSTM:    |========================|--->|   head_right frames short of the end
    audio out:      |===================|--->|        tail_right frames short of that
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
from torch import nn

from audiogen.codec.conv import Conv1d, ConvTranspose1d
from audiogen.codec.vocos import VocosDecoder


def _conv_reach(conv: Conv1d, rate: int) -> tuple[Fraction, Fraction]:
    """(left, right) reach, in frames, of a stride-1 Conv1d on a tensor of `rate` samples/frame."""
    right = conv.padding_total - conv.pad_left
    return Fraction(conv.pad_left, rate), Fraction(right, rate)


def _transposed_reach(up: ConvTranspose1d, rate: int) -> tuple[Fraction, Fraction]:
    """(left, right) reach in frames of a transposed conv whose input has `rate` samples/frame.

    Output j (after trimming `trim_left`) reads the inputs i with
    j + trim_left - kernel < i * stride <= j + trim_left; input i sits at time i / rate and
    output j at j / (rate * stride), hence the reach below.
    """
    kernel = up.effective_weight().shape[-1]
    scale = rate * up.stride
    return Fraction(kernel - up.trim_left, scale), Fraction(up.trim_left, scale)


def decoder_reach(decoder: nn.Module) -> tuple[tuple[int, int], tuple[int, int]]:
    """((head_left, head_right), (tail_left, tail_right)) reach in whole frames of a decoder.

    SEANet: reaches add up along the layers (in frames, whatever the layer's rate); the sums
    are rounded up once at the end, which bounds the context a piece needs. Vocos: no head.
    """
    if isinstance(decoder, VocosDecoder):
        return (0, 0), decoder.reach()
    head = _conv_reach(decoder.conv_in, 1)
    left = right = Fraction(0)
    rate = 1
    for block in decoder.blocks:
        lo, hi = _transposed_reach(block.up, rate)
        left, right = left + lo, right + hi
        rate *= block.up.stride
        for unit in block.residuals:
            for conv in (unit.conv1, unit.conv2):
                lo, hi = _conv_reach(conv, rate)
                left, right = left + lo, right + hi
    lo, hi = _conv_reach(decoder.conv_out, rate)
    whole = (math.ceil(head[0]), math.ceil(head[1]))
    return whole, (math.ceil(left + lo), math.ceil(right + hi))


class StreamingDecoder:
    """Decodes codes pushed in pieces, in order; returns each sample once, when it is final.

        dec = StreamingDecoder(codec)
        for codes in pieces:            # codes [B, K, n], any n >= 0
            wav = dec.push(codes)       # [B, 1, m] samples now final (m may be 0)
        wav = dec.flush()               # [B, 1, rest]: the end of the signal
    All pieces joined: [B, 1, F * hop_length], equal to `codec.decode` of all the codes up to
    float rounding. Call under torch.no_grad() (Codec.decode does).
    """

    def __init__(self, codec):
        self.codec = codec
        self.decoder = codec.decoder
        self.hop = codec.hop_length
        (self.head_left, self.head_right), (self.tail_left, self.tail_right) = \
            decoder_reach(self.decoder)
        self.latent: torch.Tensor | None = None  # [B, D, n] latents from frame latent_start
        self.latent_start = 0
        self.pushed = 0  # frames received
        self.state = None  # LSTM (h, c) after frame `head_done - 1`
        self.feat: torch.Tensor | None = None  # [B, C, n] LSTM outputs from frame feat_start
        self.feat_start = 0
        self.head_done = 0  # frames through head and LSTM
        self.out_done = 0  # frames whose audio has been returned
        self.finished = False

    def push(self, codes: torch.Tensor) -> torch.Tensor:
        """Add codes [B, K, n] (the next n frames); -> wav [B, 1, m] newly final samples."""
        if self.finished:
            raise RuntimeError("StreamingDecoder: push after flush")
        if codes.dim() != 3:
            raise ValueError(f"expected codes [B, K, n], got {tuple(codes.shape)}")
        latent = self.codec.quantizer.decode(codes.long())
        self.latent = latent if self.latent is None else torch.cat([self.latent, latent], -1)
        self.pushed += codes.shape[-1]
        return self._advance(final=False)

    def flush(self) -> torch.Tensor:
        """End of the signal: -> the remaining samples [B, 1, m]."""
        if self.finished:
            raise RuntimeError("StreamingDecoder: flush called twice")
        self.finished = True
        if self.latent is None:
            raise ValueError("StreamingDecoder: nothing was pushed")
        return self._advance(final=True)

    def _advance(self, final: bool) -> torch.Tensor:
        self._run_head(self.pushed if final else self.pushed - self.head_right)
        return self._run_tail(self.head_done if final else self.head_done - self.tail_right,
                              final)

    def _run_head(self, upto: int) -> None:
        """Frames [head_done, upto) through conv_in and the LSTM (Vocos: as they are)."""
        if upto <= self.head_done:
            return
        lo = max(0, self.head_done - self.head_left)
        hi = min(self.pushed, upto + self.head_right)
        x = self.latent[..., lo - self.latent_start:hi - self.latent_start]
        if not isinstance(self.decoder, VocosDecoder):  # Vocos: no head (reach 0, lo..upto)
            x = self.decoder.conv_in(x)[..., self.head_done - lo:upto - lo]
            lstm = self.decoder.lstm
            if lstm is not None:  # the LSTM wrapper's forward, with the state carried
                seq = x.permute(2, 0, 1)  # [n, B, C]
                y, self.state = lstm.lstm(seq, self.state)
                x = (y + seq).permute(1, 2, 0)
        self.feat = x if self.feat is None else torch.cat([self.feat, x], -1)
        self.head_done = upto
        # keep only the latents the next head call reads
        keep = max(0, self.head_done - self.head_left)
        self.latent = self.latent[..., keep - self.latent_start:]
        self.latent_start = keep

    def _run_tail(self, upto: int, final: bool) -> torch.Tensor:
        """Audio of frames [out_done, upto) through the upsampling blocks (Vocos: the whole
        decoder)."""
        if upto <= self.out_done:
            return self.latent.new_zeros(self.latent.shape[0], self.codec.config.channels, 0)
        lo = max(0, self.out_done - self.tail_left)
        hi = self.head_done if final else min(self.head_done, upto + self.tail_right)
        x = self.feat[..., lo - self.feat_start:hi - self.feat_start]
        wav = self.decoder.tail(x)
        wav = wav[..., (self.out_done - lo) * self.hop:(upto - lo) * self.hop]
        self.out_done = upto
        keep = max(0, self.out_done - self.tail_left)
        self.feat = self.feat[..., keep - self.feat_start:]
        self.feat_start = keep
        return wav


@torch.no_grad()
def decode_chunked(codec, codes: torch.Tensor, chunk_frames: int = 500) -> torch.Tensor:
    """codes [B, K, F] -> wav [B, 1, F * hop_length], decoded `chunk_frames` frames at a time.

    Equals `codec.decode(codes)` up to float rounding, while the decoder's activations stay
    bounded by the chunk (plus a few frames of context) instead of growing with F.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    if codes.shape[-1] <= chunk_frames:  # one chunk is the whole signal
        return codec.decode(codes)
    decoder = StreamingDecoder(codec)
    pieces = [decoder.push(codes[..., i:i + chunk_frames])
              for i in range(0, codes.shape[-1], chunk_frames)]
    pieces.append(decoder.flush())
    return torch.cat(pieces, dim=-1)

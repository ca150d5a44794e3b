"""The decoder transformer: pre-LayerNorm blocks of causal self-attention, cross-attention to the
text, and a GELU feed-forward, with sinusoidal positions added at the input (audiocraft).

    x [B, S, D] + sin(positions)
      for each block:  x += SelfAttn(LN(x))      causal, optionally over a text prefix too
                       x += CrossAttn(LN(x), text)
                       x += W2 GELU(W1 LN(x))
      LN(x) -> [B, S, D]

Decoding uses a static KV cache: one buffer per layer for keys and values, allocated once for
the whole generation and written in place (no concatenation, no reallocation), and the text's
cross-attention keys/values computed once per generation (`cross_kv`), not at every step.
A call of `forward` with a cache appends n positions (n > 1 prefills a prompt). Two ways to
attend to it:
- by default, to the filled part only (a slice whose length grows: least work on a CPU);
- with `KVCache.position` set (a device tensor), to the whole buffer under a mask, the write
  position kept on the device: every step of a given n has the same shapes and reads nothing
  back to the host, which is what CUDA graphs and `torch.compile` without recompiles need.

One definition of the computation serves training, the plain decoder and the fast one
(audiogen.generation.fast): `Transformer.run` works on plain tensors and takes two options,
`linear` (how x W^T + b is computed: the product's form, and the dtype it runs in) and
`sinusoids` (a position table computed once per generation); the defaults are the plain
module's computation.

Parameter names follow the reference's layout closely so the released weights map through a
short table (audiogen.convert.lm): attention input projections hold q, k, v stacked
as one [3D, D] matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.lm.config import LMConfig

# x [..., in], weight [out, in], bias [out] or None -> [..., out]: F.linear or a drop-in
Linear = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def sinusoidal_embedding(positions: torch.Tensor, dim: int, max_period: float = 10_000.0,
                         ) -> torch.Tensor:
    """positions [...] -> [..., dim]: concat(cos(phase), sin(phase)) with
    phase_i = pos / max_period^(i / (dim/2 - 1)), exactly as the released model was trained."""
    half = dim // 2
    i = torch.arange(half, device=positions.device, dtype=torch.float32)
    period = torch.full([], max_period, device=positions.device, dtype=torch.float32)
    phase = positions.to(torch.float32).unsqueeze(-1) / period ** (i / (half - 1))
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


class MultiheadAttention(nn.Module):
    """Attention with q, k, v projections stacked in one `in_proj` [3D, D] (scaled dot-product
    attention through torch SDPA)."""

    def __init__(self, dim: int, num_heads: int, bias: bool, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.dim = dim
        self.dropout = dropout
        self.in_proj = nn.Linear(dim, 3 * dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S, n*D] -> n tensors [B, H, S, D/H]."""
        B, S, _ = x.shape
        x = x.view(B, S, -1, self.num_heads, self.dim // self.num_heads)
        return x.permute(2, 0, 3, 1, 4).unbind(0)

    def qkv(self, x: torch.Tensor, linear: Linear = F.linear,
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self._heads(linear(x, self.in_proj.weight, self.in_proj.bias))

    def q(self, x: torch.Tensor, linear: Linear = F.linear) -> torch.Tensor:
        b = self.in_proj.bias
        return self._heads(linear(x, self.in_proj.weight[: self.dim],
                                  None if b is None else b[: self.dim]))[0]

    def kv(self, x: torch.Tensor, linear: Linear = F.linear,
           ) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.in_proj.bias
        return self._heads(linear(x, self.in_proj.weight[self.dim:],
                                  None if b is None else b[self.dim:]))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               mask: torch.Tensor | None = None, causal: bool = False,
               linear: Linear = F.linear) -> torch.Tensor:
        """q [B, H, n, d], k/v [B, H, m, d], mask broadcastable to [B, H, n, m] (True = attend)
        -> [B, n, D] after the output projection."""
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal,
            dropout_p=self.dropout if self.training else 0.0)
        B, _, n, _ = out.shape
        return linear(out.transpose(1, 2).reshape(B, n, self.dim), self.out_proj.weight,
                      self.out_proj.bias)


class DecoderBlock(nn.Module):
    def __init__(self, config: LMConfig):
        super().__init__()
        d = config.dim
        self.norm_self = nn.LayerNorm(d, eps=1e-5)
        self.self_attn = MultiheadAttention(d, config.num_heads, config.bias_attn,
                                            config.attention_dropout)
        if config.cross_attention:
            self.norm_cross = nn.LayerNorm(d, eps=1e-5)
            self.cross_attn = MultiheadAttention(d, config.num_heads, config.bias_attn,
                                                 config.attention_dropout)
        self.norm_ffn = nn.LayerNorm(d, eps=1e-5)
        self.ffn_in = nn.Linear(d, config.ffn_dim, bias=config.bias_ffn)
        self.ffn_out = nn.Linear(config.ffn_dim, d, bias=config.bias_ffn)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cross: tuple | None, self_mask: torch.Tensor | None,
                causal: bool, cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                start: int = 0, positions: torch.Tensor | None = None,
                linear: Linear = F.linear) -> torch.Tensor:
        """x [B, n, D]; cross = (k, v, mask) of the text; cache = this layer's (k, v) buffers
        [B, H, max_len, d], into which positions start..start+n-1 are written (or, in the
        static mode, the device tensor `positions` [n], or [B, n] for a position per row,
        attending to the whole buffer).
        linear: how every product with a weight matrix is computed (module docstring)."""
        # direct calls of what the norm and dropout modules compute: a decoding step is short
        # enough for the overhead of a module call to show
        drop = self.dropout if self.training else _same
        q, k, v = self.self_attn.qkv(_layer_norm(self.norm_self, x), linear)
        if cache is not None and positions is not None:
            if positions.dim() == 1:
                cache[0].index_copy_(2, positions, k)
                cache[1].index_copy_(2, positions, v)
            else:  # a position per row (continuous batching: rows of different generations)
                at = positions[:, None, :, None].expand_as(k)
                cache[0].scatter_(2, at, k)
                cache[1].scatter_(2, at, v)
            k, v = cache
        elif cache is not None:
            end = start + x.shape[1]
            cache[0][:, :, start:end] = k
            cache[1][:, :, start:end] = v
            k, v = cache[0][:, :, :end], cache[1][:, :, :end]
        x = x + drop(self.self_attn.attend(q, k, v, self_mask, causal, linear=linear))
        if cross is not None:
            ck, cv, cmask = cross
            q = self.cross_attn.q(_layer_norm(self.norm_cross, x), linear)
            x = x + drop(self.cross_attn.attend(q, ck, cv, cmask, linear=linear))
        h = F.gelu(linear(_layer_norm(self.norm_ffn, x), self.ffn_in.weight, self.ffn_in.bias))
        h = linear(drop(h), self.ffn_out.weight, self.ffn_out.bias)
        return x + drop(h)


@dataclass
class CrossKV:
    """The text's cross-attention keys/values, per layer, computed once per generation."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer: k, v [B, H, L, d]
    mask: torch.Tensor | None  # [B, 1, 1, L] additive (0 or -inf), or None (the reference's way)


@dataclass
class KVCache:
    """Static self-attention cache: keys/values [layers, B, H, max_len, d] and the filled length.

    position: None, or (static mode) the filled length as a [1] long tensor on the cache's
    device, advanced on the device; `length` is then host-side bookkeeping only.
    """

    k: torch.Tensor
    v: torch.Tensor
    length: int = 0
    position: torch.Tensor | None = None

    @property
    def max_len(self) -> int:
        return self.k.shape[3]


class Transformer(nn.Module):
    """The block stack with input positions and the final LayerNorm."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(DecoderBlock(config) for _ in range(config.num_layers))
        self.norm_out = nn.LayerNorm(config.dim, eps=1e-5)

    def cross_kv(self, text: torch.Tensor, mask: torch.Tensor, linear: Linear = F.linear,
                 ) -> CrossKV | None:
        """text [B, L, D] (zeros at padding), mask [B, L] -> per-layer keys/values."""
        if not self.config.cross_attention:
            return None
        kv = [layer.cross_attn.kv(text, linear) for layer in self.layers]
        attn_mask = None
        if self.config.cross_attention_mask:
            # A row with no real token (the null condition) attends to all its zero vectors,
            # as the reference does, instead of to nothing (which would give NaN).
            mask = mask | ~mask.any(dim=1, keepdim=True)
            # Additive form (in the keys' dtype, as attention needs), made once per generation
            # rather than converted at every step.
            attn_mask = torch.zeros(mask.shape, dtype=kv[0][0].dtype, device=text.device)
            attn_mask = attn_mask.masked_fill(~mask, float("-inf"))[:, None, None, :]
        return CrossKV(kv, attn_mask)

    def new_cache(self, batch: int, max_len: int, device: torch.device,
                  dtype: torch.dtype, static: bool = False) -> KVCache:
        c = self.config
        shape = (c.num_layers, batch, c.num_heads, max_len, c.head_dim)
        position = torch.zeros(1, dtype=torch.long, device=device) if static else None
        return KVCache(torch.zeros(shape, device=device, dtype=dtype),
                       torch.zeros(shape, device=device, dtype=dtype), position=position)

    def forward(self, x: torch.Tensor, cross: CrossKV | None, cache: KVCache | None = None,
                key_valid: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, n, D] at positions cache.length .. +n-1 (0.. without a cache) -> [B, n, D].

        key_valid [B, >= end] bool marks self-attention keys that may be attended (False at a
        text prefix's padding); None means all. With a cache, the n positions are appended.
        """
        n = x.shape[1]
        if cache is None:
            return self.run(x, cross, None, None, 0, None, key_valid)
        if cache.length + n > cache.max_len:
            raise ValueError(f"decode cache full: {cache.length + n} positions > {cache.max_len}")
        h = self.run(x, cross, cache.k, cache.v, cache.length, cache.position, key_valid)
        cache.length += n
        if cache.position is not None:
            cache.position.add_(n)
        return h

    def run(self, x: torch.Tensor, cross: CrossKV | None, cache_k: torch.Tensor | None,
            cache_v: torch.Tensor | None, start: int, position: torch.Tensor | None,
            key_valid: torch.Tensor | None, linear: Linear = F.linear,
            sinusoids: torch.Tensor | None = None) -> torch.Tensor:
        """The stack over plain tensors (what `forward`, the fast decoder, torch.compile and
        CUDA graphs share): x [B, n, D] at positions start.. (or, static cache, the device
        tensor `position` [1], or [B, 1]: each row at its own position) -> the final
        LayerNorm's output [B, n, D]. The n new keys/values
        are written into cache_k / cache_v [layers, B, H, max_len, d] when given; the caller
        advances the cache. linear: how products with weights are computed; sinusoids: the
        position table [>= end, D] (default: computed here).
        """
        n, D = x.shape[1:]
        static = position is not None
        if static:
            positions = position + torch.arange(n, device=x.device)
            mask, causal = _causal_mask(positions, cache_k.shape[3], key_valid), False
        else:
            positions = torch.arange(start, start + n, device=x.device)
            mask, causal = self._self_mask(start, n, key_valid, x.device)
        if sinusoids is None:
            pos = sinusoidal_embedding(positions, D, self.config.max_period)
        else:
            pos = sinusoids[positions] if static else sinusoids[start:start + n]
        x = x + pos.to(x.dtype)
        cross_mask = cross.mask if cross is not None else None
        for i, layer in enumerate(self.layers):
            layer_cross = (*cross.kv[i], cross_mask) if cross is not None else None
            layer_cache = (cache_k[i], cache_v[i]) if cache_k is not None else None
            x = layer(x, layer_cross, mask, causal, layer_cache, start,
                      positions if static else None, linear)
        return _layer_norm(self.norm_out, x)

    @staticmethod
    def _self_mask(start: int, n: int, key_valid: torch.Tensor | None,
                   device: torch.device) -> tuple[torch.Tensor | None, bool]:
        """(mask or None, is_causal) for n queries after `start` cached keys."""
        if key_valid is None:
            if start == 0:
                return None, True  # SDPA's own causal path
            if n == 1:
                return None, False  # one new query sees every cached key
        return _causal_mask(torch.arange(start, start + n, device=device), start + n,
                            key_valid), False


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


def _layer_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """norm(x) without the module call (nn.LayerNorm.forward's own computation)."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _causal_mask(query: torch.Tensor, num_keys: int,
                 key_valid: torch.Tensor | None) -> torch.Tensor:
    """[B or 1, 1, n, num_keys] bool: queries at positions `query` [n] (or [B, n]: per row)
    see keys up to their own position (in the static cache, later slots are unwritten or
    stale). Keys with key_valid False (a text prefix's padding) are hidden, except from
    themselves: a query must see at least one key, or its row is NaN (which would leak through
    zero weights)."""
    key = torch.arange(num_keys, device=query.device)
    query = query.unsqueeze(-1)  # [n, 1], or [B, 1, n, 1] below
    if query.dim() == 3:
        query = query[:, None]
    mask = key <= query
    if key_valid is not None:
        mask = mask & (key_valid[:, None, None, :num_keys] | (key == query))
    return mask if mask.dim() == 4 else mask[None, None]


def init_weights(module: nn.Module, config: LMConfig) -> None:
    """As audiocraft: truncated normal (±3 std) with std 1/sqrt(fan_in); block layer i scaled down
    by sqrt(2 (i + 1)); zero biases; LayerNorms at (1, 0)."""

    def normal_(w: torch.Tensor, fan_in: int, depth: int | None = None) -> None:
        std = 1 / math.sqrt(fan_in)
        if depth is not None:
            std /= math.sqrt(2 * depth)
        nn.init.trunc_normal_(w, mean=0.0, std=std, a=-3 * std, b=3 * std)

    for name, m in module.named_modules():
        if isinstance(m, nn.Embedding):
            normal_(m.weight, m.embedding_dim)
        elif isinstance(m, nn.Linear):
            depth = None
            parts = name.split(".")
            if "layers" in parts:
                depth = int(parts[parts.index("layers") + 1]) + 1
            normal_(m.weight, m.in_features, depth)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

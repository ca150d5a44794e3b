"""A faster decoding step for an AudioLM: same tokens, less time per step.

At batch 1 (2 rows with guidance) one decoding step is a chain of matrix-vector products: its
time is the time to read the weights. What this module changes, measured on a 2-core AVX-512
CPU at dim 512 x 12 layers (bench/generate.py):

- The product's form. `F.linear(x, W)` (W stored [out, in]) computes x W^T, which MKL runs as
  an sgemm with M = rows = 2; computing (W x^T)^T instead, an sgemm with N = 2 over the
  same storage, took 11.9 ms instead of 29 ms per 512 x 12 step here (the [in, out] layout
  with F.linear: 20 ms). Same values up to float rounding, no copy of the weights.
  float16 / bfloat16 products are faster through F.linear, so they keep it.
- One product for the K output heads (one [K * card, D] buffer) instead of K.
- A step over plain tensors, run under `torch.inference_mode`, with the sinusoidal positions
  computed once per generation.
- Optional, explicit: half-precision weights (`dtype=torch.float16` or `torch.bfloat16`: half
  the bytes to read; outputs change, so never the default on a CPU). Only the products with
  weight matrices run in half precision: the residual stream, the LayerNorms (and their
  weights), the embeddings and the position table stay float32 on every device, so 48 layers
  of additions do not accumulate half-precision rounding (and float16 cannot overflow in the
  stream). Between the products, attention and the KV cache run in the activation dtype:
  float32 on a CPU (CPU attention in bfloat16 is several times slower than in float32), the
  weights' dtype on CUDA (half the cache memory; the fused attention kernels). Measured here
  (AVX-512 with bf16, no fp16 arithmetic), the products take 11 ms in float16 and 14.5 ms in
  bfloat16 per 512 x 12 step, no faster than float32 in the form above: on this CPU the option
  saves memory, not time. float16's longer mantissa keeps greedy tokens closer to float32's
  than bfloat16's (99.5% vs 94% of 400 tokens).
- Optional, explicit: int8 weights (`dtype=torch.int8`, CPU only; audiogen.generation.int8):
  a quarter of float32's bytes, products through torch's dynamic quantization kernel, the
  rest float32 as above. Tokens close to float32's, not equal.
- Optional: `torch.compile` of the step (static shapes: the whole cache under a mask, the
  write position on the device). On this CPU it does not pay: compiling took 49 s (small
  model, loaded machine) and the compiled step was 10-20% slower than the eager one.
  CUDA graphs of the step on CUDA (replayed once per token).
- With compile or CUDA graphs the cache length is rounded up to a multiple of STATIC_BUCKET
  steps and the buffers (cache, the text's keys/values, the captured graph) are kept for the
  next generation of the same batch, text length and bucket: a new duration within the bucket
  neither recompiles nor re-captures.

The step itself is the model's own (`Transformer.run`, the blocks' forward); this module only
chooses its options: the form and dtype of the products, a position table computed once.
`FastDecoder(lm)` has the interface the decode loop uses (audiogen.generation.decoder), so
`decode(FastDecoder(lm), ...)` and `AudioGen(codec, FastDecoder(lm))` work as they do with the
plain model. Greedy decoding gives the plain path's tokens (tests/test_fast_generation.py); the
float sums are ordered differently, so logits agree to about 1e-6, not bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.generation.int8 import Int8Products
from audiogen.lm.model import AudioLM, DecodeState
from audiogen.lm.transformer import CrossKV, KVCache, Linear, sinusoidal_embedding

STATIC_BUCKET = 256  # compiled / graphed decoding: cache lengths rounded up to a multiple of it


def _decoder_linears(lm: AudioLM) -> list[nn.Linear]:
    """The Linear layers a decoding step multiplies by (the text projection is not one)."""
    out = []
    for layer in lm.transformer.layers:
        out += [layer.self_attn.in_proj, layer.self_attn.out_proj, layer.ffn_in, layer.ffn_out]
        if hasattr(layer, "cross_attn"):
            out += [layer.cross_attn.in_proj, layer.cross_attn.out_proj]
    return out


def prepare_for_decoding(lm: AudioLM, dtype: torch.dtype | None = None,
                         int8: Int8Products | None = None) -> torch.Tensor:
    """In place: decoder Linear weights and biases (heads included) cast to `dtype` when
    given (torch.int8: weights quantized by `int8`, biases float32), embeddings and LayerNorms
    to float32 (the residual stream's dtype); the K heads' weights become views of one
    [K * card, D] buffer, which is returned. The text projection is left as it is."""
    linears = [*_decoder_linears(lm), *lm.heads]
    if dtype == torch.int8:
        for linear in linears:
            linear.float()
    elif dtype is not None:
        for linear in linears:
            linear.to(dtype)
    for module in (*lm.embeddings, *[m for m in lm.transformer.modules()
                                     if isinstance(m, nn.LayerNorm)]):
        module.float()
    card = lm.config.card
    heads = torch.cat([h.weight.detach() for h in lm.heads])
    if dtype == torch.int8:
        heads = int8.quantize(heads)
        for linear in _decoder_linears(lm):
            linear.weight = nn.Parameter(int8.quantize(linear.weight), requires_grad=False)
    for k, head in enumerate(lm.heads):
        head.weight = nn.Parameter(heads[k * card:(k + 1) * card], requires_grad=False)
    return heads


def linear_in(act_dtype: torch.dtype, int8: Int8Products | None = None) -> Linear:
    """The decoder's product x W^T + b, in the weight's dtype, the result in `act_dtype`.

    float32 weights on a CPU: computed as (W @ x^T)^T, MKL's fast form for a few rows (module
    docstring); int8 weights: by `int8` (audiogen.generation.int8).
    """

    def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
               ) -> torch.Tensor:
        if weight.dtype == torch.int8:
            y = int8(x, weight, bias)
        elif weight.dtype != torch.float32 or weight.device.type != "cpu":
            if x.dtype != weight.dtype:  # (casts only when needed: a step is many calls)
                x = x.to(weight.dtype)
            y = F.linear(x, weight, bias)
        else:
            # Both contiguous: MKL's fast case is x^T as a transposed view of [rows, in] storage
            # (a contiguous [in, rows] x^T is 5x slower), and strided outputs would spread to
            # the elementwise ops and attention downstream.
            rows = x.reshape(-1, x.shape[-1]).float().contiguous()
            y = torch.mm(weight, rows.t()).t().contiguous()
            if bias is not None:
                y = y + bias
            y = y.reshape(*x.shape[:-1], weight.shape[0])
        return y if y.dtype == act_dtype else y.to(act_dtype)

    return linear


@dataclass
class _Kept:
    """Static buffers of the last compiled / graphed generation, reused by the next one of the
    same shape (the graph reads these very tensors)."""

    key: tuple  # (batch, cache length, text length)
    cache: KVCache
    cross: CrossKV | None
    graph: tuple | None = None  # (CUDAGraph, input tokens, output logits) once captured


class FastDecoder(nn.Module):
    """Wraps an AudioLM (changed in place: heads fused into one buffer, weights cast to
    `dtype` when given, norms and embeddings float32) with a faster `step`. Build it once per
    model and reuse it.

    dtype: None keeps the weights' dtype (float32: the same tokens as the plain model);
      torch.float16 / torch.bfloat16 trade exactness for speed (tokens differ); torch.int8
      (CPU only): int8 weights, dynamically quantized products (audiogen.generation.int8).
    static: attend over the whole cache under a mask, the write position kept on the device:
      fixed shapes at every step, what `compile` and `cuda_graphs` need (they imply it); a
      little more attention work than the default, which attends to the filled part only.
    compile: torch.compile the one-token step (static shapes). The first generation of each
      shape pays the compile time (`compile_seconds` after it); worth it only for long or many
      generations.
    cuda_graphs: on CUDA, capture the one-token step and replay it, the graph kept for the next
      generations of the same shape (module docstring). Written and simulated on a CPU;
      bench/gpu_check.sh checks it on a GPU. Compiled or graphed, a decoder runs one
      generation at a time (a new `start` reuses the buffers of the previous one).
    act_dtype: the dtype of attention and the KV cache; None: float32 on a CPU, the weights'
      dtype elsewhere (the CUDA branch can thus be run, slowly, on a CPU).
    """

    def __init__(self, lm: AudioLM, dtype: torch.dtype | None = None, static: bool = False,
                 compile: bool = False, cuda_graphs: bool = False,
                 act_dtype: torch.dtype | None = None):
        super().__init__()
        if not isinstance(lm, AudioLM):
            raise TypeError(f"FastDecoder wraps an AudioLM, not a {type(lm).__name__} "
                            "(AudioGen.from_pretrained already decodes with a FastDecoder; load "
                            "with fast=False to wrap the plain LM with other options)")
        self.lm = lm.eval()
        device = lm.heads[0].weight.device
        int8 = None
        if dtype == torch.int8:
            if device.type != "cpu" or compile or cuda_graphs or act_dtype not in (
                    None, torch.float32):
                raise ValueError("int8 weights run on a CPU, float32 activations, neither "
                                 "compiled nor graphed")
            int8 = Int8Products()
        with torch.no_grad():
            heads = prepare_for_decoding(lm, dtype, int8)
        if act_dtype is None:  # float32 on a CPU whatever the weights (module docstring)
            act_dtype = torch.float32 if device.type == "cpu" else heads.dtype
        self.act_dtype = act_dtype
        self._linear = linear_in(self.act_dtype, int8)
        self.register_buffer("_heads", heads, persistent=False)  # [K * card, D] (maybe a view)
        bias = [h.bias for h in lm.heads]
        self.register_buffer("_heads_bias", None if bias[0] is None else
                             torch.cat([b.detach() for b in bias]), persistent=False)
        self.static = static or compile or cuda_graphs
        self.compiled = compile
        self.cuda_graphs = cuda_graphs
        self.compile_seconds: float | None = None
        self._positions: torch.Tensor | None = None  # [max_len, D] sinusoids of this generation
        self._token_fn = torch.compile(self._tokens, dynamic=False) if compile else self._tokens
        self._kept: _Kept | None = None

    # the interface the decode loop and AudioGen use
    @property
    def config(self):
        return self.lm.config

    @property
    def pattern(self):
        return self.lm.pattern

    @property
    def text(self):
        return self.lm.text

    @property
    def special_token(self) -> int:
        return self.lm.special_token

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the products' weights."""
        return self._heads.dtype

    @torch.inference_mode()
    def start(self, cond, max_steps: int | None = None) -> DecodeState:
        """As AudioLM.start; the cache and the text's keys/values in the activation dtype
        (static cache when compiled or graphed, kept across generations of one shape)."""
        c, act = self.config, self.act_dtype
        max_steps = max_steps or c.max_seq_len
        device = self._heads.device
        prefix = cond.embeddings.shape[1] if c.text_prefix else 0
        cache_steps = max_steps
        if self.compiled or self.cuda_graphs:
            cache_steps = -(-max_steps // STATIC_BUCKET) * STATIC_BUCKET
        transformer = self.lm.transformer
        text = cond.embeddings.float()
        cross = self.cross_kv(cond)
        cache = None
        if self.compiled or self.cuda_graphs:
            cache, cross = self._reuse((cond.batch_size, prefix + cache_steps, text.shape[1]),
                                       cross)
        if cache is None:
            cache = transformer.new_cache(cond.batch_size, prefix + cache_steps, device, act,
                                          self.static)
            if self.compiled or self.cuda_graphs:
                self._kept = _Kept((cond.batch_size, cache.max_len, text.shape[1]), cache,
                                   cross)
        self._positions = sinusoidal_embedding(torch.arange(cache.max_len, device=device), c.dim,
                                               c.max_period)
        key_valid = None
        if prefix:
            if not bool(cond.mask.all()):
                key_valid = F.pad(cond.mask, (0, cache.max_len - prefix), value=True)
            self._run(text, cache.k, cache.v, cross, 0, cache.position, key_valid)
            cache.length = prefix
            if cache.position is not None:
                cache.position.add_(prefix)
        return DecodeState(cache, cross, key_valid, prefix)

    def _reuse(self, key: tuple, cross: CrossKV | None,
               ) -> tuple[KVCache | None, CrossKV | None]:
        """The kept buffers, reset and holding this generation's text, if their shape is
        `key`; else (None, cross) and the old ones are dropped."""
        kept = self._kept
        if kept is None or kept.key != key:
            self._kept = None
            return None, cross
        cache = kept.cache
        cache.k.zero_()
        cache.v.zero_()
        cache.position.zero_()
        cache.length = 0
        if cross is not None:
            for (k, v), (new_k, new_v) in zip(kept.cross.kv, cross.kv):
                k.copy_(new_k)
                v.copy_(new_v)
            if cross.mask is not None:
                kept.cross.mask.copy_(cross.mask)
        return cache, kept.cross

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor, state: DecodeState) -> torch.Tensor:
        """tokens [B, K, n] -> logits [B, K, n, card], as AudioLM.step."""
        n = tokens.shape[-1]
        cache = state.cache
        if cache.length + n > cache.max_len:
            raise ValueError(f"decode cache full: {cache.length + n} positions > {cache.max_len}")
        if self.static and n == 1 and state.key_valid is None:
            logits = self._static_one(tokens, state)
        else:
            logits = self._tokens(tokens, cache.k, cache.v, state.cross, cache.length,
                                  cache.position, state.key_valid)
        cache.length += n
        if cache.position is not None:
            cache.position.add_(n)
        return logits

    def _static_one(self, tokens: torch.Tensor, state: DecodeState) -> torch.Tensor:
        """The one-token step at fixed shapes: compiled, or replayed from a CUDA graph."""
        args = (state.cache.k, state.cache.v, state.cross, 0, state.cache.position, None)
        if self.cuda_graphs and tokens.is_cuda:
            # CUDA streams and graphs belong to the current device: make it the model's
            with torch.cuda.device(tokens.device):
                if self._kept.graph is None:
                    self._kept.graph = self._capture(tokens, args)
                graph, inputs, output = self._kept.graph
                inputs.copy_(tokens)
                graph.replay()
                return output.clone()
        begin = time.perf_counter()
        logits = self._token_fn(tokens, *args)
        if self.compiled and self.compile_seconds is None:
            self.compile_seconds = time.perf_counter() - begin  # the first call compiles
        return logits

    def _capture(self, tokens: torch.Tensor, args: tuple) -> tuple:
        """Warm up on a side stream, then record the step. The warm-up writes keys/values at
        the current position, which the real step overwrites next; the position itself is
        advanced by `step`, outside the graph, so the graph reads it afresh at each replay."""
        inputs = tokens.clone()
        stream = torch.cuda.Stream(device=tokens.device)
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._tokens(inputs, *args)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            output = self._tokens(inputs, *args)
        return graph, inputs, output

    def cross_kv(self, cond) -> CrossKV | None:
        """The text's cross-attention keys/values for cond's batch, in this decoder's
        products."""
        return self.lm.transformer.cross_kv(cond.embeddings.float(), cond.mask, self._linear)

    @torch.inference_mode()
    def step_rows(self, tokens: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor,
                  cross: CrossKV | None, position: torch.Tensor,
                  sinusoids: torch.Tensor) -> torch.Tensor:
        """tokens [B, K, n] -> logits [B, K, n, card] over buffers the caller owns
        (audiogen.generation.batching: rows of different generations side by side).

        cache_k / cache_v [layers, B, H, max_len, d]: row b's n keys/values are written at
        positions position[b] .. + n - 1 (position [B, 1] long), and row b attends to its
        keys up to there; sinusoids: the position table [max_len, D]. The caller advances
        `position`.
        """
        return self._tokens(tokens, cache_k, cache_v, cross, 0, position, None,
                            sinusoids=sinusoids)

    def _tokens(self, tokens: torch.Tensor, *args, sinusoids: torch.Tensor | None = None,
                ) -> torch.Tensor:
        """tokens [B, K, n] -> logits [B, K, n, card] (args as `_run`)."""
        lm = self.lm
        B, K, n = tokens.shape
        x = F.embedding(tokens[:, 0], lm.embeddings[0].weight)
        for k in range(1, K):
            x = x + F.embedding(tokens[:, k], lm.embeddings[k].weight)
        h = self._run(x, *args, sinusoids=sinusoids)
        logits = self._linear(h, self._heads, self._heads_bias)  # [B, n, K * card]
        return logits.view(B, n, K, self.config.card).transpose(1, 2)

    def _run(self, x: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor,
             cross: CrossKV | None, start: int, position: torch.Tensor | None,
             key_valid: torch.Tensor | None, sinusoids: torch.Tensor | None = None,
             ) -> torch.Tensor:
        """The model's own stack (Transformer.run) with this decoder's products and position
        table (this generation's, or `sinusoids`): x [B, n, D] float32 -> [B, n, D] float32."""
        return self.lm.transformer.run(x, cross, cache_k, cache_v, start, position, key_valid,
                                       self._linear,
                                       self._positions if sinusoids is None else sinusoids)

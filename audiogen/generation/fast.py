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
  the bytes to read; outputs change, so never the default). On a CPU only the matrix products
  run in half precision: activations, the KV cache and attention stay float32 (CPU attention
  in bfloat16 is several times slower than in float32). Measured here (AVX-512 with bf16, no
  fp16 arithmetic), the products take 11 ms in float16 and 14.5 ms in bfloat16 per 512 x 12
  step, no faster than float32 in the form above: on this CPU the option saves memory, not
  time. float16's longer mantissa keeps greedy tokens closer to float32's than bfloat16's
  (99.5% vs 94% of 400 tokens). On CUDA everything runs in the weights' dtype.
- Optional: `torch.compile` of the step (static shapes: the whole cache under a mask, the
  write position on the device). On this CPU it does not pay: compiling took 49 s (small
  model, loaded machine) and the compiled step was 10-20% slower than the eager one.
  CUDA graphs of the step on CUDA (replayed once per token).

`FastDecoder(lm)` has the interface the decode loop uses (`config`, `pattern`, `text`, `start`,
`step`), so `decode(FastDecoder(lm), ...)` and `AudioGen(codec, FastDecoder(lm))` work as they
do with the plain model. Greedy decoding gives the plain path's tokens
(tests/test_fast_generation.py); the float sums are ordered differently, so logits agree to
about 1e-6, not bit for bit.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.lm.model import AudioLM, DecodeState
from audiogen.lm.transformer import CrossKV, Transformer, _causal_mask, sinusoidal_embedding


def _decoder_linears(lm: AudioLM) -> list[nn.Linear]:
    """The Linear layers a decoding step multiplies by (the text projection is not one)."""
    out = []
    for layer in lm.transformer.layers:
        out += [layer.self_attn.in_proj, layer.self_attn.out_proj, layer.ffn_in, layer.ffn_out]
        if hasattr(layer, "cross_attn"):
            out += [layer.cross_attn.in_proj, layer.cross_attn.out_proj]
    return out


def prepare_for_decoding(lm: AudioLM, dtype: torch.dtype | None = None) -> torch.Tensor:
    """In place: decoder Linear weights and biases (heads included) cast to `dtype` when
    given; the K heads' weights become views of one [K * card, D] buffer, which is returned.
    Embeddings, norms and the text projection are left as they are."""
    if dtype is not None:
        for linear in [*_decoder_linears(lm), *lm.heads]:
            linear.to(dtype)
    card = lm.config.card
    heads = torch.cat([h.weight.detach() for h in lm.heads])
    for k, head in enumerate(lm.heads):
        head.weight = nn.Parameter(heads[k * card:(k + 1) * card], requires_grad=False)
    return heads


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
            ) -> torch.Tensor:
    """x [..., in] -> [..., out] as F.linear, in the weight's dtype, the result in x's dtype.

    float32: computed as (weight @ x^T)^T, MKL's fast form for a few rows (module docstring).
    """
    if weight.dtype != torch.float32 or weight.device.type != "cpu":
        if x.dtype == weight.dtype:
            return F.linear(x, weight, bias)
        return F.linear(x.to(weight.dtype), weight, bias).to(x.dtype)
    # Both contiguous: MKL's fast case is x^T as a transposed view of [rows, in] storage (a
    # contiguous [in, rows] x^T is 5x slower), and strided outputs would spread to the
    # elementwise ops and attention downstream.
    rows = x.reshape(-1, x.shape[-1]).contiguous()
    y = torch.mm(weight, rows.t()).t().contiguous()
    if bias is not None:
        y = y + bias
    return y.reshape(*x.shape[:-1], weight.shape[0])


class FastDecoder(nn.Module):
    """Wraps an AudioLM (changed in place: heads fused into one buffer, weights cast to
    `dtype` when given) with a faster `step`. Build it once per model and reuse it.

    dtype: None keeps float32 (the same tokens as the plain model); torch.float16 /
      torch.bfloat16 trade exactness for speed (opt-in: tokens differ).
    static: attend over the whole cache under a mask, the write position kept on the device:
      fixed shapes at every step, what `compile` and `cuda_graphs` need (they imply it); a
      little more attention work than the default, which attends to the filled part only.
    compile: torch.compile the one-token step (static shapes). The first generation pays the
      compile time (`compile_seconds` after it); worth it only for long or many generations.
    cuda_graphs: on CUDA, capture the one-token step once per generation and replay it.
      Untested: written without access to a GPU.
    """

    def __init__(self, lm: AudioLM, dtype: torch.dtype | None = None, static: bool = False,
                 compile: bool = False, cuda_graphs: bool = False):
        super().__init__()
        if not isinstance(lm, AudioLM):
            raise TypeError(f"FastDecoder wraps an AudioLM, not a {type(lm).__name__} "
                            "(AudioGen.from_pretrained already decodes with a FastDecoder; load "
                            "with fast=False to wrap the plain LM with other options)")
        self.lm = lm.eval()
        device = lm.heads[0].weight.device
        weight_dtype = dtype or lm.heads[0].weight.dtype
        cpu = device.type == "cpu"
        # CPU: float32 activations whatever the weights (see the module docstring)
        self.act_dtype = torch.float32 if cpu else weight_dtype
        with torch.no_grad():
            heads = prepare_for_decoding(lm, dtype)
            if not cpu:  # everything else in the weights' dtype too
                for module in (*lm.embeddings, *[m for m in lm.transformer.modules()
                                                 if isinstance(m, nn.LayerNorm)]):
                    module.to(weight_dtype)
        self.register_buffer("_heads", heads, persistent=False)  # [K * card, D] (maybe a view)
        bias = [h.bias for h in lm.heads]
        self._heads_bias = None if bias[0] is None else torch.cat([b.detach() for b in bias])
        self.static = static or compile or cuda_graphs
        self.compiled = compile
        self.cuda_graphs = cuda_graphs
        self.compile_seconds: float | None = None
        self._positions: torch.Tensor | None = None  # [max_len, D] sinusoids of this generation
        self._token_fn = torch.compile(self._tokens, dynamic=False) if compile else self._tokens
        self._graph = None

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

    @torch.inference_mode()
    def start(self, cond, max_steps: int | None = None) -> DecodeState:
        """As AudioLM.start, the cache and the text's keys/values in the activation dtype
        (static cache when compiled or graphed)."""
        c, act = self.config, self.act_dtype
        max_steps = max_steps or c.max_seq_len
        device = self._heads.device
        prefix = cond.embeddings.shape[1] if c.text_prefix else 0
        cache = self.lm.transformer.new_cache(cond.batch_size, prefix + max_steps, device, act,
                                              self.static)
        table = sinusoidal_embedding(torch.arange(cache.max_len, device=device), c.dim,
                                     c.max_period)
        self._positions = table.to(act)
        self._graph = None
        cross = self.lm.transformer.cross_kv(cond.embeddings.to(self._heads.dtype), cond.mask)
        if cross is not None and cross.kv[0][0].dtype != act:
            cross = CrossKV([(k.to(act), v.to(act)) for k, v in cross.kv],
                            None if cross.mask is None else cross.mask.to(act))
        key_valid = None
        if prefix:
            if not bool(cond.mask.all()):
                key_valid = F.pad(cond.mask, (0, max_steps), value=True)
            self._forward(cond.embeddings.to(act), cache.k, cache.v, cross, 0, cache.position,
                          key_valid)
            cache.length = prefix
            if cache.position is not None:
                cache.position.add_(prefix)
        return DecodeState(cache, cross, key_valid, prefix)

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
            if self._graph is None:
                self._capture(tokens, args)
            graph, inputs, output = self._graph
            inputs.copy_(tokens)
            graph.replay()
            return output.clone()
        begin = time.perf_counter()
        logits = self._token_fn(tokens, *args)
        if self.compiled and self.compile_seconds is None:
            self.compile_seconds = time.perf_counter() - begin  # the first call compiles
        return logits

    def _capture(self, tokens: torch.Tensor, args: tuple) -> None:
        """Warm up on a side stream, then record the step. The warm-up writes keys/values at
        the current position, which the real step overwrites next; the position itself is
        advanced by `step`, outside the graph, so the graph reads it afresh at each replay."""
        inputs = tokens.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._tokens(inputs, *args)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            output = self._tokens(inputs, *args)
        self._graph = (graph, inputs, output)

    def _tokens(self, tokens: torch.Tensor, *args) -> torch.Tensor:
        """tokens [B, K, n] -> logits [B, K, n, card] (args as `_forward`)."""
        lm = self.lm
        B, K, n = tokens.shape
        x = F.embedding(tokens[:, 0], lm.embeddings[0].weight)
        for k in range(1, K):
            x = x + F.embedding(tokens[:, k], lm.embeddings[k].weight)
        h = self._forward(x.to(self.act_dtype), *args)
        logits = _linear(h, self._heads, self._heads_bias)  # [B, n, K * card]
        return logits.view(B, n, K, self.config.card).transpose(1, 2)

    def _forward(self, x: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor,
                 cross: CrossKV | None, start: int, position: torch.Tensor | None,
                 key_valid: torch.Tensor | None) -> torch.Tensor:
        """x [B, n, D] at cache positions start.. (or, static, the device tensor `position`)
        -> the final LayerNorm's output [B, n, D]; writes the n new keys/values into the
        cache. The operations of Transformer.forward, over plain tensors."""
        c = self.config
        B, n, D = x.shape
        H = c.num_heads
        if position is not None:
            positions = position + torch.arange(n, device=x.device)
            mask, causal = _causal_mask(positions, cache_k.shape[3], key_valid), False
            x = x + self._positions.index_select(0, positions)
        else:
            end = start + n
            mask, causal = Transformer._self_mask(start, n, key_valid, x.device)
            x = x + self._positions[start:end]
        for i, layer in enumerate(self.lm.transformer.layers):
            attn = layer.self_attn
            h = F.layer_norm(x, (D,), layer.norm_self.weight, layer.norm_self.bias, 1e-5)
            q, k, v = _linear(h, attn.in_proj.weight, attn.in_proj.bias).view(
                B, n, 3, H, D // H).permute(2, 0, 3, 1, 4).unbind(0)
            if position is not None:
                cache_k[i].index_copy_(2, positions, k)
                cache_v[i].index_copy_(2, positions, v)
                keys, values = cache_k[i], cache_v[i]
            else:
                cache_k[i][:, :, start:end] = k
                cache_v[i][:, :, start:end] = v
                keys, values = cache_k[i][:, :, :end], cache_v[i][:, :, :end]
            h = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, is_causal=causal)
            h = h.transpose(1, 2).reshape(B, n, D)
            x = x + _linear(h, attn.out_proj.weight, attn.out_proj.bias)
            if cross is not None:
                attn = layer.cross_attn
                h = F.layer_norm(x, (D,), layer.norm_cross.weight, layer.norm_cross.bias, 1e-5)
                b = attn.in_proj.bias
                q = _linear(h, attn.in_proj.weight[:D], None if b is None else b[:D])
                q = q.view(B, n, H, D // H).transpose(1, 2)
                h = F.scaled_dot_product_attention(q, *cross.kv[i], attn_mask=cross.mask)
                h = h.transpose(1, 2).reshape(B, n, D)
                x = x + _linear(h, attn.out_proj.weight, attn.out_proj.bias)
            h = F.layer_norm(x, (D,), layer.norm_ffn.weight, layer.norm_ffn.bias, 1e-5)
            h = F.gelu(_linear(h, layer.ffn_in.weight, layer.ffn_in.bias))
            x = x + _linear(h, layer.ffn_out.weight, layer.ffn_out.bias)
        norm = self.lm.transformer.norm_out
        return F.layer_norm(x, (D,), norm.weight, norm.bias, 1e-5)

"""AudioLM: the text-conditioned language model over codec tokens (AudioGen paper).

    codes [B, K, T] --pattern--> seq [B, K, S] --sum of K embeddings--> [B, S, D]
        --transformer (text by cross-attention and/or as a prefix)--> K heads
        --> logits [B, K, S, card]; logits at step s predict the codes at step s + 1.

Training: `compute_loss(codes, cond)`. Decoding: `state = start(cond, max_steps)`, then
`step(tokens [B, K, n], state)` for n >= 1 new steps at a time (static KV cache; the text's
keys/values computed once in `start`). A full model directory is written by `save`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from audiogen.lm.config import LMConfig
from audiogen.lm.patterns import make_pattern
from audiogen.lm.transformer import CrossKV, KVCache, Transformer, init_weights
from audiogen.model_dir import ModelFiles
from audiogen.text.conditioner import TextCondition, TextConditioner

FILES = ModelFiles("lm", "audiogen-lm", 1, "language model",
                   "Write one with `audiogen train lm` or `audiogen convert-audiocraft`.")


@dataclass
class DecodeState:
    """Everything `step` needs between calls; made by `AudioLM.start`."""

    cache: KVCache  # self-attention keys/values, filled up to cache.length
    cross: CrossKV | None  # the text's keys/values for every layer
    key_valid: torch.Tensor | None  # [B, max_len] False at a text prefix's padding, or None
    prefix_len: int  # text-prefix positions at the start of the cache (0 without a prefix)

    @property
    def steps(self) -> int:
        """Audio steps consumed so far."""
        return self.cache.length - self.prefix_len


class AudioLM(nn.Module):
    """K summed token embeddings -> Transformer -> K heads, conditioned on a TextCondition."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        self.pattern = make_pattern(config.pattern, config.num_codebooks, config.delays)
        self.text = TextConditioner(config.text, config.dim)
        self.embeddings = nn.ModuleList(
            nn.Embedding(config.card + 1, config.dim) for _ in range(config.num_codebooks))
        self.transformer = Transformer(config)
        self.heads = nn.ModuleList(
            nn.Linear(config.dim, config.card, bias=config.bias_heads)
            for _ in range(config.num_codebooks))
        init_weights(self, config)

    @property
    def special_token(self) -> int:
        return self.config.card

    # ---------------------------------------------------------------- forward and loss
    def _embed(self, seq: torch.Tensor) -> torch.Tensor:
        """seq [B, K, n] -> [B, n, D]."""
        assert seq.dim() == 3 and seq.shape[1] == self.config.num_codebooks, seq.shape
        return sum(emb(seq[:, k]) for k, emb in enumerate(self.embeddings))

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        """[B, n, D] -> [B, K, n, card]."""
        return torch.stack([head(h) for head in self.heads], dim=1)

    def forward(self, seq: torch.Tensor, cond: TextCondition) -> torch.Tensor:
        """seq [B, K, S] pattern tokens (the special token included) -> logits [B, K, S, card]."""
        x = self._embed(seq)
        cross = self.transformer.cross_kv(cond.embeddings, cond.mask)
        key_valid = None
        prefix = 0
        if self.config.text_prefix:
            prefix = cond.embeddings.shape[1]
            x = torch.cat([cond.embeddings.to(x.dtype), x], dim=1)
            # in training always the padding mask: testing whether it is needed would read the
            # mask back to the host at every micro-batch (the same attention either way)
            if self.training or not bool(cond.mask.all()):
                key_valid = F.pad(cond.mask, (0, seq.shape[2]), value=True)
        h = self.transformer(x, cross, key_valid=key_valid)
        return self._logits(h[:, prefix:])

    def drop_condition(self, cond: TextCondition, p: float) -> TextCondition:
        """Classifier-free guidance dropout: each example's text becomes the null condition
        with probability p (per sample; the method only needs a share of unconditional
        examples; audiocraft draws once per batch)."""
        keep = torch.rand(cond.batch_size, device=cond.mask.device) >= p
        return TextCondition(cond.embeddings * keep[:, None, None], cond.mask & keep[:, None])

    def compute_loss(self, codes: torch.Tensor, cond: TextCondition,
                     frame_mask: torch.Tensor | None = None,
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """codes [B, K, T] -> (mean over K of the per-codebook cross-entropy, metrics).

        frame_mask [B, T] bool (optional): False at padded frames (past the end of a short
        clip); their codes may hold anything (e.g. -1): they become the special token in the
        input and are left out of the loss. In training mode the condition is dropped per
        sample with config.cfg_dropout.
        Metrics (0-dim tensors, detached): "ce" (nats), "ce/q{k}" and "ppl/q{k}" per codebook.
        """
        B, K, T = codes.shape
        if self.training and self.config.cfg_dropout > 0:
            cond = self.drop_condition(cond, self.config.cfg_dropout)
        if frame_mask is not None:
            assert frame_mask.shape == (B, T), (frame_mask.shape, codes.shape)
            codes = codes.masked_fill(~frame_mask[:, None, :], self.special_token)
        seq = self.pattern.build(codes, self.special_token)
        # The last step's prediction has no target: leave it out of the forward pass.
        logits = self(seq[:, :, :-1], cond)  # [B, K, S-1, card]
        target = seq[:, :, 1:]
        valid = self.pattern.valid_mask(T)[:, 1:].to(codes.device)  # [K, S-1]
        if frame_mask is None:
            losses = []
            for k in range(K):
                lk = logits[:, k][:, valid[k]]  # [B, N_k, card]
                tk = target[:, k][:, valid[k]]
                losses.append(F.cross_entropy(lk.reshape(-1, lk.shape[-1]).float(),
                                              tk.reshape(-1)))
        else:
            # where each real frame's code lands in the sequence: [B, K, S-1]
            weight = self.pattern.build(frame_mask[:, None, :].expand(B, K, T).float(), 0.0)
            weight = weight[:, :, 1:] * valid
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                 target.clamp_max(self.config.card - 1).reshape(-1),
                                 reduction="none").view(B, K, -1)
            # a codebook with no valid position (all padding) contributes 0, not NaN
            losses = list((ce * weight).sum((0, 2)) / weight.sum((0, 2)).clamp_min(1.0))
        per_codebook = torch.stack(losses)
        loss = per_codebook.mean()
        # detached tensors on the device: read back when logged, not at every micro-batch (a
        # read stalls a GPU until the whole step is computed)
        per_codebook = per_codebook.detach()
        metrics = {"ce": loss.detach()}
        for k, lk in enumerate(per_codebook):
            metrics[f"ce/q{k}"] = lk
            metrics[f"ppl/q{k}"] = lk.clamp_max(50.0).exp()
        return loss, metrics

    # ---------------------------------------------------------------- decoding
    @torch.no_grad()
    def start(self, cond: TextCondition, max_steps: int | None = None,
              static: bool = False) -> DecodeState:
        """A decode state for cond's batch: the cache sized for max_steps audio steps (default
        config.max_seq_len), the text's cross-attention keys/values, and a text prefix if any.

        static: attend over the whole cache with the write position kept on the device, so
        each `step` of a given n has fixed shapes and no host read (for CUDA graphs /
        torch.compile); the default attends to the filled part only (faster on a CPU).
        """
        max_steps = max_steps or self.config.max_seq_len
        w = self.heads[0].weight
        prefix = cond.embeddings.shape[1] if self.config.text_prefix else 0
        cache = self.transformer.new_cache(cond.batch_size, prefix + max_steps, w.device, w.dtype,
                                           static)
        cross = self.transformer.cross_kv(cond.embeddings.to(w.dtype), cond.mask)
        key_valid = None
        if prefix:
            if not bool(cond.mask.all()):
                key_valid = F.pad(cond.mask, (0, max_steps), value=True)
            self.transformer(cond.embeddings.to(w.dtype), cross, cache, key_valid)
        return DecodeState(cache, cross, key_valid, prefix)

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, state: DecodeState) -> torch.Tensor:
        """tokens [B, K, n] (the next n pattern steps) -> logits [B, K, n, card]; the state
        advances by n."""
        h = self.transformer(self._embed(tokens), state.cross, state.cache, state.key_valid)
        return self._logits(h)

    # ---------------------------------------------------------------- files
    def save(self, directory: str | Path, generation: dict | None = None,
             extra: dict | None = None) -> None:
        """Write lm.json and lm.safetensors (see audiogen.model_dir), the weights in their
        current dtype (`load` casts them). The frozen text encoder's weights are not included:
        lm.json says where they come from."""
        # imported here: audiogen.generation imports this package
        from audiogen.generation.config import GenerationConfig

        config = self.config.to_dict()
        FILES.save(directory, self.state_dict(), {
            "config": config, "text_encoder": config["text"],
            # every generation setting, so the model keeps its own if defaults change
            "generation": GenerationConfig.from_dict(generation).to_dict(), **(extra or {})})

    @classmethod
    def load(cls, directory: str | Path, device: torch.device | str = "cpu",
             text_encoder_path: str | None = None, dtype: torch.dtype = torch.float32,
             ) -> AudioLM:
        """Read a directory written by `save`, weights cast to dtype; text_encoder_path
        overrides where the frozen text encoder is found (e.g. a T5 folder on this machine)."""
        meta = FILES.read_meta(directory)
        config = FILES.config(directory, meta, LMConfig)
        if text_encoder_path is not None:
            config.text.path = str(text_encoder_path)
        state = FILES.read_weights(directory, device)
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        return FILES.build(directory, lambda: cls.from_state_dict(config, state))

    @classmethod
    def from_state_dict(cls, config: LMConfig, state: dict[str, torch.Tensor]) -> AudioLM:
        """A model (eval mode) holding exactly `state` (strict), without the cost of a random
        initialisation first (minutes for the 1.5B model on a CPU)."""
        with torch.device("meta"):
            model = cls(config)
        model.load_state_dict(state, strict=True, assign=True)
        return model.eval()

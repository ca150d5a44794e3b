"""Safe import of an audiocraft language model checkpoint (`state_dict.bin`, docs/conversion.md).

The file is a torch pickle of {"best_state": {name: tensor}, "xp.cfg": YAML string, ...}; it is
read by `audiogen.convert.checkpoint.read_checkpoint` (`torch.load(weights_only=True)`: tensors
and plain containers only, nothing executed) and the YAML with `yaml.safe_load`.

Two named, tested steps:
- `lm_config_from_xp_cfg`: the Hydra config (`transformer_lm.*`, `codebooks_pattern.*`,
  `conditioners.description.*`, `classifier_free_guidance.*`) -> `LMConfig`, refusing what
  this model does not implement (post-norm, rotary positions, layer scale, ...).
- `convert_lm_state_dict`: reference names -> native names through `AUDIOCRAFT_LM_KEYS`.

The reference gives cross-attention no padding mask (padded text positions are zero vectors
that still take part in the softmax), so imported models set `cross_attention_mask=False` to
give the same numbers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NamedTuple

import torch

from audiogen.convert.checkpoint import read_checkpoint, setting
from audiogen.errors import AudiogenError
from audiogen.lm.config import LMConfig
from audiogen.lm.model import AudioLM
from audiogen.text.conditioner import TextEncoderConfig

# Reference name (regex) -> native name. {i}: layer, {k}: codebook, {p}: weight or bias.
# Attention weights sit under `mha.` when a model was trained with PyTorch's
# nn.MultiheadAttention (custom=false, memory_efficient=false): same math, same layout.
_LAYER = r"transformer\.layers\.(?P<i>\d+)\."
_SELF, _CROSS = r"self_attn\.(?:mha\.)?", r"cross_attention\.(?:mha\.)?"
AUDIOCRAFT_LM_KEYS: list[tuple[str, str]] = [
    (r"emb\.(?P<k>\d+)\.weight", "embeddings.{k}.weight"),
    (_LAYER + _SELF + r"in_proj_(?P<p>weight|bias)", "transformer.layers.{i}.self_attn.in_proj.{p}"),
    (_LAYER + _SELF + r"out_proj\.(?P<p>weight|bias)", "transformer.layers.{i}.self_attn.out_proj.{p}"),
    (_LAYER + _CROSS + r"in_proj_(?P<p>weight|bias)", "transformer.layers.{i}.cross_attn.in_proj.{p}"),
    (_LAYER + _CROSS + r"out_proj\.(?P<p>weight|bias)", "transformer.layers.{i}.cross_attn.out_proj.{p}"),
    (_LAYER + r"linear1\.(?P<p>weight|bias)", "transformer.layers.{i}.ffn_in.{p}"),
    (_LAYER + r"linear2\.(?P<p>weight|bias)", "transformer.layers.{i}.ffn_out.{p}"),
    (_LAYER + r"norm1\.(?P<p>weight|bias)", "transformer.layers.{i}.norm_self.{p}"),
    (_LAYER + r"norm_cross\.(?P<p>weight|bias)", "transformer.layers.{i}.norm_cross.{p}"),
    (_LAYER + r"norm2\.(?P<p>weight|bias)", "transformer.layers.{i}.norm_ffn.{p}"),
    (r"out_norm\.(?P<p>weight|bias)", "transformer.norm_out.{p}"),
    (r"linears\.(?P<k>\d+)\.(?P<p>weight|bias)", "heads.{k}.{p}"),
    (r"condition_provider\.conditioners\.description\.output_proj\.(?P<p>weight|bias)",
     "text.proj.{p}"),
]
_COMPILED = [(re.compile(ref + r"$"), native) for ref, native in AUDIOCRAFT_LM_KEYS]

# Hidden sizes of the T5 encoders the reference accepts.
T5_DIMS = {"t5-small": 512, "t5-base": 768, "t5-large": 1024, "t5-3b": 1024, "t5-11b": 1024,
           "google/flan-t5-small": 512, "google/flan-t5-base": 768,
           "google/flan-t5-large": 1024, "google/flan-t5-xl": 2048, "google/flan-t5-xxl": 4096}

# transformer_lm settings this model reproduces only at these values.
_REQUIRED = {
    "norm_first": True, "norm": "layer_norm", "activation": "gelu", "causal": True,
    "past_context": None, "layer_scale": None, "positional_embedding": "sin",
    "positional_scale": 1.0, "qk_layer_norm": False, "qk_layer_norm_cross": False,
    "kv_repeat": 1, "xpos": False,
}


def native_key(ref_key: str) -> str | None:
    """The native name of a reference weight, or None if the table has no entry for it."""
    for pattern, template in _COMPILED:
        if m := pattern.match(ref_key):
            return template.format(**m.groupdict())
    return None


def convert_lm_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a reference LM state dict; AudiogenError on a weight the table does not know."""
    out, unknown = {}, []
    for key, value in state.items():
        name = native_key(key)
        if name is None:
            unknown.append(key)
        else:
            out[name] = value
    if unknown:
        raise AudiogenError(f"checkpoint has LM weights this model does not know: {unknown[:8]}"
                            f"{' ...' if len(unknown) > 8 else ''}")
    return out


def lm_config_from_xp_cfg(cfg: dict[str, Any]) -> LMConfig:
    """Map the reference's training config onto `LMConfig` (AudiogenError if unsupported)."""
    if setting(cfg, "lm_model", "transformer_lm") != "transformer_lm":
        raise AudiogenError(f"xp.cfg: lm_model {setting(cfg, 'lm_model')!r} is not supported")
    tl = "transformer_lm."
    for key, value in _REQUIRED.items():
        found = setting(cfg, tl + key, value)
        if found != value and not (isinstance(value, float) and float(found) == value):
            raise AudiogenError(f"xp.cfg: transformer_lm.{key} = {found!r} is not supported "
                                f"(this model implements {value!r})")
    for attr in ("sum", "prepend", "input_interpolate"):
        if setting(cfg, f"fuser.{attr}", []):
            raise AudiogenError(f"xp.cfg: fuser.{attr} conditions are not supported")
    if setting(cfg, "fuser.cross_attention_pos_emb", False):
        raise AudiogenError("xp.cfg: fuser.cross_attention_pos_emb is not supported")
    cross = list(setting(cfg, "fuser.cross", []))
    if cross not in ([], ["description"]):
        raise AudiogenError(f"xp.cfg: cross-attention to {cross} is not supported")
    text = TextEncoderConfig(kind="t5", name="t5-large", dim=1024, max_length=512)
    if cross:
        model = setting(cfg, "conditioners.description.model")
        if model != "t5":
            raise AudiogenError(f"xp.cfg: the {model!r} text conditioner is not supported")
        name = setting(cfg, "conditioners.description.t5.name")
        if name not in T5_DIMS:
            raise AudiogenError(f"xp.cfg: unknown T5 model {name!r}")
        if setting(cfg, "conditioners.description.t5.normalize_text", False):
            raise AudiogenError("xp.cfg: text normalisation (spacy) is not supported")
        text = TextEncoderConfig(kind="t5", name=name, dim=T5_DIMS[name], max_length=512)

    n_q = int(setting(cfg, tl + "n_q"))
    modeling = setting(cfg, "codebooks_pattern.modeling", None) or setting(cfg, tl + "q_modeling")
    delays = None
    if modeling == "delay":
        delays = list(setting(cfg, "codebooks_pattern.delay.delays", list(range(n_q))))
        if setting(cfg, "codebooks_pattern.delay.flatten_first", 0) or setting(
                cfg, "codebooks_pattern.delay.empty_initial", 0):
            raise AudiogenError("xp.cfg: delay.flatten_first / empty_initial are not supported")
        pattern = "delay"
    elif modeling == "parallel":
        pattern = "parallel"
    elif modeling == "unroll":
        flat = setting(cfg, "codebooks_pattern.unroll.flattening", list(range(n_q)))
        udel = setting(cfg, "codebooks_pattern.unroll.delays", [0] * n_q)
        if list(flat) != list(range(n_q)) or any(udel):
            raise AudiogenError("xp.cfg: only the full unroll (flattened) pattern is supported")
        pattern = "flattened"
    elif modeling == "coarse_first":
        pattern = "coarse_first"
        delays = list(setting(cfg, "codebooks_pattern.coarse_first.delays", [0] * (n_q - 1)))
    else:
        raise AudiogenError(f"xp.cfg: codebook pattern {modeling!r} is not supported")

    dim = int(setting(cfg, tl + "dim"))
    dropout = float(setting(cfg, tl + "dropout", 0.0))
    attention_dropout = setting(cfg, tl + "attention_dropout", None)
    return LMConfig(
        dim=dim, num_heads=int(setting(cfg, tl + "num_heads")),
        num_layers=int(setting(cfg, tl + "num_layers")),
        ffn_dim=int(float(setting(cfg, tl + "hidden_scale", 4)) * dim),
        num_codebooks=n_q, card=int(setting(cfg, tl + "card")),
        bias_attn=bool(setting(cfg, tl + "bias_attn", True)),
        bias_ffn=bool(setting(cfg, tl + "bias_ff", True)),
        bias_heads=bool(setting(cfg, tl + "bias_proj", True)),
        dropout=dropout,
        attention_dropout=dropout if attention_dropout is None else float(attention_dropout),
        pattern=pattern, delays=delays, text=text,
        cross_attention=bool(cross), cross_attention_mask=False, text_prefix=False,
        cfg_dropout=float(setting(cfg, "classifier_free_guidance.training_dropout", 0.1)),
        max_period=float(setting(cfg, tl + "max_period", 10_000.0)),
    )


def generation_defaults_from_xp_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """The sampling defaults the release was published with (guidance from its config; the
    rest, and guidance when the config has none, are GenerationConfig's defaults)."""
    coef = setting(cfg, "classifier_free_guidance.inference_coef", None)
    return {} if coef is None else {"cfg_coef": float(coef)}


class ImportedLM(NamedTuple):
    model: AudioLM  # eval mode
    xp_cfg: dict[str, Any]  # the parsed training config


def import_audiocraft_lm(path: str | os.PathLike,
                         text_encoder_path: str | os.PathLike | None = None,
                         dtype: torch.dtype | None = torch.float32) -> ImportedLM:
    """Build a native AudioLM from a reference `state_dict.bin`.

    text_encoder_path: the local T5 directory the model's conditioner will load from.
    dtype: of the model's weights; None keeps what the file stores (the converter writes a
    float16 release as float16: nothing lost, and no float32 copy of 1.5B weights in memory).
    """
    path = Path(path)
    if not path.is_file():
        raise AudiogenError(f"{path}: no such file (expected an audiocraft LM state_dict.bin)")
    state, cfg, *_ = read_checkpoint(path)  # (the third item: the exporter's version)
    config = lm_config_from_xp_cfg(cfg)
    if text_encoder_path is not None:
        config.text.path = str(text_encoder_path)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    try:
        model = AudioLM.from_state_dict(config, convert_lm_state_dict(state))
    except RuntimeError as e:
        raise AudiogenError(
            f"{path}: weights do not match the LM its xp.cfg describes: {e}") from e
    return ImportedLM(model, cfg)

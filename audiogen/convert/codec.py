"""Safe import of an audiocraft codec checkpoint (`compression_state_dict.bin`).

The file is read by `audiogen.convert.checkpoint.read_checkpoint` (tensors and plain containers
only, nothing executed; the YAML with `yaml.safe_load`).

Two named, tested steps turn it into a native `Codec`:
- `config_from_xp_cfg`: the Hydra config (`encodec.*`, `seanet.*`, `rvq.*`) -> `CodecConfig`,
  refusing settings this codec does not implement (renormalisation, another activation, ...).
- `convert_state_dict`: the reference's flat `nn.Sequential` names -> native names, through the
  table built by `audiocraft_key_map`; weight norm stays `weight_g` / `weight_v`.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from audiogen.codec.config import CodecConfig
from audiogen.codec.model import Codec
from audiogen.convert.checkpoint import read_checkpoint, setting
from audiogen.errors import AudiogenError


def config_from_xp_cfg(cfg: dict[str, Any]) -> CodecConfig:
    """Map the reference's training config onto `CodecConfig` (AudiogenError if unsupported)."""
    def get(path: str, default: Any = ...) -> Any:
        return setting(cfg, path, default)

    def require(path: str, expected: Any, value: Any = ...) -> None:
        value = get(path, None) if value is ... else value
        if value != expected:
            raise AudiogenError(f"xp.cfg: {path} = {value!r} is not supported "
                                f"(this codec implements {expected!r})")

    require("compression_model", "encodec")
    require("encodec.autoencoder", "seanet")
    require("encodec.quantizer", "rvq")
    require("encodec.renormalize", False, bool(get("encodec.renormalize", False)))
    # seanet.encoder / seanet.decoder override the shared seanet settings for one half
    shared = {k: get(f"seanet.{k}") for k in get("seanet") if k not in ("encoder", "decoder")}
    halves = {}
    for half in ("encoder", "decoder"):
        overrides = get(f"seanet.{half}", None) or {}
        halves[half] = {**shared, **{k: get(f"seanet.{half}.{k}") for k in overrides}}
    dec = halves["decoder"]
    require("seanet.decoder.final_activation", None, dec.pop("final_activation", None))
    dec.pop("final_activation_params", None)
    trim_right_ratio = float(dec.pop("trim_right_ratio", 1.0))
    if halves["encoder"] != dec:
        differ = sorted(k for k in dec if halves["encoder"].get(k) != dec[k])
        raise AudiogenError(f"xp.cfg: encoder and decoder differ in {differ}; "
                            "this codec uses one setting for both halves")
    s = dec
    require("seanet.activation", "ELU", s.get("activation"))
    require("seanet.activation_params.alpha", 1.0,
            float((s.get("activation_params") or {}).get("alpha", 1.0)))
    require("seanet.disable_norm_outer_blocks", 0, s.get("disable_norm_outer_blocks", 0))
    require("seanet.norm_params", {}, s.get("norm_params") or {})
    if get("encodec.channels") != s["channels"]:
        raise AudiogenError("xp.cfg: encodec.channels and seanet.channels differ")
    rvq = get("rvq")
    try:
        return CodecConfig(
            sample_rate=int(get("encodec.sample_rate")),
            channels=int(s["channels"]),
            n_filters=int(s["n_filters"]),
            ratios=[int(r) for r in s["ratios"]],
            dimension=int(s["dimension"]),
            n_residual_layers=int(s["n_residual_layers"]),
            lstm_layers=int(s.get("lstm", 0)),
            causal=bool(s["causal"]),
            kernel_size=int(s["kernel_size"]),
            last_kernel_size=int(s["last_kernel_size"]),
            residual_kernel_size=int(s["residual_kernel_size"]),
            dilation_base=int(s["dilation_base"]),
            compress=int(s["compress"]),
            true_skip=bool(s["true_skip"]),
            norm=str(s["norm"]),
            pad_mode=str(s["pad_mode"]),
            trim_right_ratio=trim_right_ratio,
            n_q=int(get("rvq.n_q")),
            bins=int(get("rvq.bins")),
            decay=float(get("rvq.decay")),
            kmeans_init=bool(get("rvq.kmeans_init")),
            kmeans_iters=int(get("rvq.kmeans_iters")),
            threshold_ema_dead_code=float(get("rvq.threshold_ema_dead_code")),
            random_active_codebooks=bool(rvq.get("q_dropout", False)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise AudiogenError(f"xp.cfg: unusable codec settings: {e}") from e


def audiocraft_key_map(config: CodecConfig) -> dict[str, str]:
    """Module prefixes: reference name -> native name, for every module holding weights.

    The reference builds each half as one `nn.Sequential` (activations take indices too):
      encoder.model: conv, per ratio [residual units..., ELU, strided conv], LSTM?, ELU, conv
      decoder.model: conv, LSTM?, per ratio [ELU, transposed conv, residual units...], ELU, conv
    and wraps each conv twice (`.conv.conv.`, `.convtr.convtr.`).
    """
    table: dict[str, str] = {}

    def residuals(foreign: str, native: str) -> None:
        table[f"{foreign}.block.1.conv.conv."] = f"{native}.conv1."
        table[f"{foreign}.block.3.conv.conv."] = f"{native}.conv2."
        if not config.true_skip:
            table[f"{foreign}.shortcut.conv.conv."] = f"{native}.shortcut."

    n_res, has_lstm = config.n_residual_layers, config.lstm_layers > 0
    i = 0
    table[f"encoder.model.{i}.conv.conv."] = "encoder.conv_in."
    i += 1
    for b in range(len(config.ratios)):
        for j in range(n_res):
            residuals(f"encoder.model.{i}", f"encoder.blocks.{b}.residuals.{j}")
            i += 1
        i += 1  # ELU
        table[f"encoder.model.{i}.conv.conv."] = f"encoder.blocks.{b}.down."
        i += 1
    if has_lstm:
        table[f"encoder.model.{i}.lstm."] = "encoder.lstm.lstm."
        i += 1
    i += 1  # ELU
    table[f"encoder.model.{i}.conv.conv."] = "encoder.conv_out."

    i = 0
    table[f"decoder.model.{i}.conv.conv."] = "decoder.conv_in."
    i += 1
    if has_lstm:
        table[f"decoder.model.{i}.lstm."] = "decoder.lstm.lstm."
        i += 1
    for b in range(len(config.ratios)):
        i += 1  # ELU
        table[f"decoder.model.{i}.convtr.convtr."] = f"decoder.blocks.{b}.up."
        i += 1
        for j in range(n_res):
            residuals(f"decoder.model.{i}", f"decoder.blocks.{b}.residuals.{j}")
            i += 1
    i += 1  # ELU
    table[f"decoder.model.{i}.conv.conv."] = "decoder.conv_out."

    for k in range(config.n_q):
        table[f"quantizer.vq.layers.{k}._codebook."] = f"quantizer.codebooks.{k}."
    return table


# weight-norm tensors as saved by torch.nn.utils.parametrizations.weight_norm (newer torch)
_PARAMETRIZED = {"parametrizations.weight.original0": "weight_g",
                 "parametrizations.weight.original1": "weight_v"}


def convert_state_dict(foreign: dict[str, torch.Tensor], config: CodecConfig
                       ) -> dict[str, torch.Tensor]:
    """Rename a reference codec state dict to native names (AudiogenError on unknown keys)."""
    table = audiocraft_key_map(config)
    native: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in foreign.items():
        prefix = next((p for p in table if key.startswith(p)), None)
        if prefix is None:
            unknown.append(key)
            continue
        suffix = key[len(prefix):]
        native[table[prefix] + _PARAMETRIZED.get(suffix, suffix)] = tensor
    if unknown:
        raise AudiogenError(f"checkpoint has weights this codec does not know: {unknown[:8]}"
                            f"{' ...' if len(unknown) > 8 else ''}")
    return native


def codec_from_reference(state: dict[str, torch.Tensor], cfg: dict[str, Any]) -> Codec:
    """A native `Codec` (eval mode) from a reference state dict and its parsed xp.cfg."""
    config = config_from_xp_cfg(cfg)
    model = Codec(config)
    try:
        model.load_state_dict(convert_state_dict(state, config), strict=True)
    except RuntimeError as e:
        raise AudiogenError(f"weights do not match the codec the xp.cfg describes: {e}") from e
    return model.eval()


def import_audiocraft_codec(path: str | os.PathLike) -> Codec:
    """A native `Codec` (eval mode) from a reference `compression_state_dict.bin`."""
    state, cfg, _ = read_checkpoint(path)
    try:
        return codec_from_reference(state, cfg)
    except AudiogenError as e:
        raise AudiogenError(f"{path}: {e}") from e


def xp_cfg_from_config(config: CodecConfig) -> dict[str, Any]:
    """The reference's Hydra config for a codec of this shape (inverse of `config_from_xp_cfg`).

    Written the way the released files hold it, interpolations included; used to build the
    reference model at the same shape for fixtures and benchmarks.
    """
    if config.decoder != "seanet":
        raise ValueError(f"the reference (audiocraft) codec has a SEANet decoder only; this "
                         f"codec's decoder is {config.decoder!r}, which it cannot express")
    if config.epsilon != 1e-5:
        raise ValueError("the reference fixes the codebook epsilon at 1e-5")
    return {
        "sample_rate": config.sample_rate,
        "channels": config.channels,
        "device": "cpu",
        "compression_model": "encodec",
        "encodec": {"autoencoder": "seanet", "quantizer": "rvq",
                    "sample_rate": "${sample_rate}", "channels": "${channels}",
                    "causal": config.causal, "renormalize": False},
        "seanet": {
            "dimension": config.dimension, "channels": "${channels}",
            "causal": "${encodec.causal}", "n_filters": config.n_filters,
            "n_residual_layers": config.n_residual_layers, "ratios": list(config.ratios),
            "activation": "ELU", "activation_params": {"alpha": 1.0}, "norm": config.norm,
            "norm_params": {}, "kernel_size": config.kernel_size,
            "residual_kernel_size": config.residual_kernel_size,
            "last_kernel_size": config.last_kernel_size, "dilation_base": config.dilation_base,
            "pad_mode": config.pad_mode, "true_skip": config.true_skip,
            "compress": config.compress, "lstm": config.lstm_layers,
            "disable_norm_outer_blocks": 0,
            "decoder": {"trim_right_ratio": config.trim_right_ratio, "final_activation": None,
                        "final_activation_params": None},
            "encoder": {},
        },
        "rvq": {"n_q": config.n_q, "q_dropout": config.random_active_codebooks,
                "bins": config.bins, "decay": config.decay, "kmeans_init": config.kmeans_init,
                "kmeans_iters": config.kmeans_iters,
                "threshold_ema_dead_code": config.threshold_ema_dead_code,
                "orthogonal_reg_weight": 0.0, "orthogonal_reg_active_codes_only": False},
        "no_quant": {},
    }

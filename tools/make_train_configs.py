"""Write the packaged training presets (audiogen/configs/codec_*.yaml and lm_*.yaml) from
CodecTrainConfig and LMTrainConfig.

    .venv/bin/python tools/make_train_configs.py

Each file is the full config as `config_to_yaml` prints it (one commented line per setting),
so the presets never drift from the dataclasses: tests/test_train_configs.py checks that the
packaged files equal what this script writes. Edit the values here, not in the files; run it
again after adding a setting to either config.
"""

from __future__ import annotations

from audiogen.train.codec_config import PRESET_FILES as CODEC_FILES
from audiogen.train.codec_trainer import CodecTrainConfig
from audiogen.train.config_file import CONFIG_DIR, config_to_yaml
from audiogen.train.lm_config import PRESET_FILES as LM_FILES
from audiogen.train.lm_config import LMTrainConfig

CODEC_PRESETS: dict[str, tuple[str, dict]] = {
    CODEC_FILES["small"]: (
        ("Small CPU preset: the default model's codec (the small preset with 4 x 1024 codes,\n"
         "2.0 kbps), trained on reconstruction losses only: on a CPU the adversarial ones cost\n"
         "3x a step and, at equal CPU time, did worse (docs/training.md). Set data (the default\n"
         "model's recipe: the corpus and the recordings, by hours)."),
        {"preset": "small", "codec": {"bins": 1024, "threshold_ema_dead_code": 0.2},
         "batch_size": 16, "init_gain": 1.732,
         "loss_weights": {"adv": 0.0, "feat": 0.0, "l1": 0.1, "mel": 2.0}, "steps": 10250,
         "checkpoint_every": 250, "validate_every": 250, "log_every": 25}),
    CODEC_FILES["audiogen-16khz"]: (
        ("The released AudioGen codec's shape (57M parameters, 4 x 2048 codes at 50 Hz) with\n"
         "the EnCodec recipe of audiocraft's compression solver: 1 s crops, batch 64, Adam\n"
         "3e-4 (0.5, 0.9), balanced losses, 200 epochs of 2000 updates. Set data."),
        {"preset": "audiogen-16khz", "steps": 400000, "checkpoint_every": 5000,
         "validate_every": 5000, "log_every": 100}),
}

T5 = {"kind": "t5", "name": "t5-large", "path": "/path/to/t5-large", "dim": 1024,
      "max_length": 512}

LM_PRESETS: dict[str, tuple[str, dict]] = {
    LM_FILES["small"]: (
        ("Small CPU preset: the project's default model's LM shape, trained on 2 CPU cores on\n"
        "4 s segments. Set codec (a `small` codec preset: 4 x 1024 codes) and manifest or cache."),
        {"preset": "small", "lm": {"card": 1024, "num_layers": 4, "cfg_dropout": 0.1},
         "segment_seconds": 4.0, "batch_size": 16, "steps": 2000, "lr": 1e-3,
         "schedule": "cosine", "warmup_steps": 100, "min_lr_ratio": 0.1, "validate_every": 250,
         "checkpoint_every": 250, "log_every": 10, "precision": "fp32", "num_workers": 1}),
    LM_FILES["medium"]: (
        ("The released audiogen-medium recipe (audiocraft): 1.5B LM, 10 s segments, batch 128,\n"
        "200k updates, FSDP on 64 GPUs. The text encoder is t5-large from a local folder:\n"
        "set lm.text.path. Set codec (4 x 2048 codes, 50 Hz) and manifest or cache."),
        {"preset": "audiogen-medium", "lm": {"cfg_dropout": 0.1, "text": T5},
         "segment_seconds": 10.0, "batch_size": 128, "steps": 200000, "warmup_steps": 3000,
         "parallel": "fsdp", "validate_every": 5000, "checkpoint_every": 5000,
         "log_every": 100, "num_workers": 8}),
    LM_FILES["paper-base"]: (
        ("The paper's 285M base model shape (272M here): one 2048-code stream, T5 text\n"
        "as a prefix and by cross-attention, 5 s segments. Set lm.text.path, codec and data."),
        {"preset": "paper-base", "lm": {"cfg_dropout": 0.1, "text": T5},
         "segment_seconds": 5.0, "batch_size": 128, "steps": 200000, "warmup_steps": 3000,
         "validate_every": 5000, "checkpoint_every": 5000, "log_every": 100,
         "num_workers": 8}),
    LM_FILES["paper-large"]: (
        ("The paper's 1B large model shape (1.05B here), trained on 128 A100 for 200k\n"
        "steps in the paper. Set lm.text.path, codec and data."),
        {"preset": "paper-large", "lm": {"cfg_dropout": 0.1, "text": T5},
         "segment_seconds": 5.0, "batch_size": 128, "steps": 200000, "warmup_steps": 3000,
         "parallel": "fsdp", "validate_every": 5000, "checkpoint_every": 5000,
         "log_every": 100, "num_workers": 8}),
}


def render() -> dict[str, str]:
    """File name -> text of every preset."""
    return {name: config_to_yaml(cls(**values), header)
            for cls, presets in ((CodecTrainConfig, CODEC_PRESETS), (LMTrainConfig, LM_PRESETS))
            for name, (header, values) in presets.items()}


if __name__ == "__main__":
    for name, text in render().items():
        (CONFIG_DIR / name).write_text(text)
        print(f"wrote {CONFIG_DIR / name}")

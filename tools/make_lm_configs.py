"""Write the packaged LM training presets (audiogen/configs/lm_*.yaml) from LMTrainConfig.

    .venv/bin/python tools/make_lm_configs.py

Each file is the full config as `config_to_yaml` prints it (one commented line per setting),
so the presets never drift from the dataclass: tests/test_lm_train_parts.py checks that the
packaged files equal what this script writes. Edit the values here, not in the files.
"""

from __future__ import annotations

from audiogen.train.lm_config import CONFIG_DIR, LMTrainConfig, config_to_yaml

T5 = {"kind": "t5", "name": "t5-large", "path": "/path/to/t5-large", "dim": 1024,
      "max_length": 512}

PRESETS: dict[str, tuple[str, dict]] = {
    "lm_small.yaml": (
        ("Small CPU preset: the project's default model, trained on 2 CPU cores in about an hour\n"
        "on short clips (1-5 s). Set codec (a `small` codec preset: 4 x 1024 codes) and cache."),
        {"preset": "small", "lm": {"card": 1024, "num_layers": 4, "cfg_dropout": 0.1},
         "segment_seconds": 4.0, "batch_size": 16, "steps": 2000, "lr": 1e-3,
         "schedule": "cosine", "warmup_steps": 100, "min_lr_ratio": 0.1, "validate_every": 250,
         "checkpoint_every": 250, "log_every": 10, "precision": "fp32", "num_workers": 1}),
    "lm_medium.yaml": (
        ("The released audiogen-medium recipe (audiocraft): 1.5B LM, 10 s segments, batch 128,\n"
        "200k updates, FSDP on 64 GPUs. The text encoder is t5-large from a local folder:\n"
        "set lm.text.path. Set codec (4 x 2048 codes, 50 Hz) and manifest or cache."),
        {"preset": "audiogen-medium", "lm": {"cfg_dropout": 0.1, "text": T5},
         "segment_seconds": 10.0, "batch_size": 128, "steps": 200000, "warmup_steps": 3000,
         "parallel": "fsdp", "validate_every": 5000, "checkpoint_every": 5000,
         "log_every": 100, "num_workers": 8}),
    "lm_paper_base.yaml": (
        ("The paper's 285M base model shape (272M here): one 2048-code stream, T5 text\n"
        "as a prefix and by cross-attention, 5 s segments. Set lm.text.path, codec and data."),
        {"preset": "paper-base", "lm": {"cfg_dropout": 0.1, "text": T5},
         "segment_seconds": 5.0, "batch_size": 128, "steps": 200000, "warmup_steps": 3000,
         "validate_every": 5000, "checkpoint_every": 5000, "log_every": 100,
         "num_workers": 8}),
    "lm_paper_large.yaml": (
        ("The paper's 1B large model shape (1.05B here), trained on 128 A100 for 200k\n"
        "steps in the paper. Set lm.text.path, codec and data."),
        {"preset": "paper-large", "lm": {"cfg_dropout": 0.1, "text": T5},
         "segment_seconds": 5.0, "batch_size": 128, "steps": 200000, "warmup_steps": 3000,
         "parallel": "fsdp", "validate_every": 5000, "checkpoint_every": 5000,
         "log_every": 100, "num_workers": 8}),
}


def render() -> dict[str, str]:
    """File name -> text of every preset."""
    return {name: config_to_yaml(LMTrainConfig(**values), header)
            for name, (header, values) in PRESETS.items()}


if __name__ == "__main__":
    for name, text in render().items():
        (CONFIG_DIR / name).write_text(text)
        print(f"wrote {CONFIG_DIR / name}")

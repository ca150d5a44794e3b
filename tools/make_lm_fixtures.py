"""Make the golden LM parity fixtures with the reference implementation (audiocraft 1.3.0).

    tools/reference/python_ref tools/make_lm_fixtures.py

builds audiocraft's `LMModel` exactly as its `builders.get_lm_model` does from a training
config (`xp.cfg`), at two shapes, with deterministic random weights (`seeded_weights`, which
the tests call too), and records what it computes:

- "tiny": dim 16, 2 layers, 2 heads, 3 x 32 codes (the shape of the codec test fixture, so the
  two convert together), delays [0, 1, 2], every bias on, t5-small text width 512. The
  complete `state_dict.bin` is written (tensors + YAML, as released), so the tests exercise
  the file reader too.
- "released": the audiogen-medium layer structure (48 layers, 24 heads, FFN 4x, no biases,
  4 x 2048 codes, delay [0, 1, 2, 3], a t5-large-width projection 1024 -> dim, cross-attention
  without a padding mask) at width 96 instead of 1536 (head dim 4 instead of 64). Every key,
  every per-layer operation and the depth are the released ones; only matrix sizes shrink, so
  the file stays small and the test fast. Its weights (28 MB) are not stored: the test
  regenerates them from the seed and the key list saved in released.json.

- "wide": the release's full width (dim 1536, head dim 64) with 2 of its 48 layers: the
  release's matrix sizes and attention kernels (100M weights, regenerated from the seed).
- "prefix": the tiny shape with the text placed before the audio tokens (the reference's
  "prepend" fuser, the paper's text prefix) instead of cross-attention. The reference does not
  mask a prefix's padding, so its three captions all have 4 tokens, and its generation runs
  without guidance (cfg_coef 1: the reference's null prefix is unmasked zeros, ours masked).

And "t5_conditioner": the reference's `T5Conditioner` (tokenizer, padding, empty captions,
projection) run on a tiny T5 folder written here (`tiny-t5/`, the files of a Hugging Face
release at 512 wide, one layer), for the text side of the pipeline.

Per shape: logits of `LMModel.forward` for random pattern tokens (special token included)
and three text conditions (5 tokens, 2 tokens + padding, empty), and the greedy tokens of
`LMModel.generate` with guidance (cfg_coef 3, one 2B batch) for the same three texts.
Text conditioning goes through the reference's own `output_proj` and masking; the T5 encoder
itself is replaced by a table of fixed hidden states (T5 is a separate, frozen model).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "lm"
SEED = 1234
NUM_FRAMES = 6
TEXT_LENGTHS = (5, 2, 0)  # tokens of the three captions ("" = the null condition)
TINY = {"dim": 16, "num_heads": 2, "num_layers": 2, "n_q": 3, "card": 32, "bias": True,
        "text_dim": 512, "t5": "t5-small"}
LOGIT_CLASSES = 256  # logits stored for the first classes only (plus logsumexp over all)

SHAPES = {
    "tiny": TINY,
    "released": {"dim": 96, "num_heads": 24, "num_layers": 48, "n_q": 4, "card": 2048,
                 "bias": False, "text_dim": 1024, "t5": "t5-large"},
    "prefix": {**TINY, "fuser": "prepend", "text_lengths": (4, 4, 4), "cfg_coef": 1.0},
    "wide": {"dim": 1536, "num_heads": 24, "num_layers": 2, "n_q": 4, "card": 2048,
             "bias": False, "text_dim": 1024, "t5": "t5-large"},
}


def xp_cfg(shape: dict) -> dict:
    """The parts of a training config the LM reads, laid out as the release's xp.cfg."""
    return {
        "device": "cpu", "dtype": "float32", "lm_model": "transformer_lm",
        "codebooks_pattern": {"modeling": "delay",
                              "delay": {"delays": list(range(shape["n_q"])), "flatten_first": 0,
                                        "empty_initial": 0},
                              "unroll": {"flattening": list(range(shape["n_q"])),
                                         "delays": [0] * shape["n_q"]}},
        "transformer_lm": {
            "dim": shape["dim"], "num_heads": shape["num_heads"],
            "num_layers": shape["num_layers"], "hidden_scale": 4, "n_q": shape["n_q"],
            "card": shape["card"], "dropout": 0.0, "emb_lr": None, "activation": "gelu",
            "norm_first": True, "bias_ff": shape["bias"], "bias_attn": shape["bias"],
            "bias_proj": shape["bias"], "past_context": None, "causal": True, "custom": False,
            "memory_efficient": True, "attention_as_float32": False, "layer_scale": None,
            "positional_embedding": "sin", "xpos": False, "checkpointing": "none",
            "weight_init": "gaussian", "depthwise_init": "current", "zero_bias_init": True,
            "norm": "layer_norm", "cross_attention": False, "qk_layer_norm": False,
            "qk_layer_norm_cross": False, "attention_dropout": None, "kv_repeat": 1,
            "two_step_cfg": False,
        },
        "classifier_free_guidance": {"training_dropout": 0.1, "inference_coef": 3.0},
        "attribute_dropout": {},
        "fuser": {"cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1,
                  "sum": [], "input_interpolate": [], "prepend": [], "cross": [],
                  shape.get("fuser", "cross"): ["description"]},
        "conditioners": {"description": {"model": "t5", "t5": {
            "name": shape["t5"], "finetune": False, "word_dropout": 0.0,
            "normalize_text": False}}},
    }


def seeded_weights(shapes: dict[str, list[int]], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Deterministic random weights for a reference state dict, keyed by name.

    Matrices ~ N(0, 1/fan_in); norm weights 1 + N(0, 0.1^2); biases N(0, 0.1^2). Each key's
    generator is seeded from `seed` and its position in sorted order, so the values do not
    depend on dict order; torch's CPU generator gives the same numbers in both venvs.
    """
    out = {}
    for i, name in enumerate(sorted(shapes)):
        shape = shapes[name]
        g = torch.Generator().manual_seed(seed * 100_003 + i)
        x = torch.randn(shape, generator=g, dtype=torch.float32)
        if len(shape) == 2:
            x = x / shape[1] ** 0.5
        elif "norm" in name and name.endswith("weight"):
            x = 1 + 0.1 * x
        else:
            x = 0.1 * x
        out[name] = x
    return out


def text_table(text_dim: int, lengths: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder hidden states [B, L, text_dim] and mask [B, L] for captions of these lengths."""
    g = torch.Generator().manual_seed(SEED + 7)
    L = max(lengths)
    hidden = torch.randn(len(lengths), L, text_dim, generator=g)
    mask = torch.arange(L)[None, :] < torch.tensor(lengths)[:, None]
    return hidden, mask


def pattern_tokens(batch: int, n_q: int, card: int, steps: int) -> torch.Tensor:
    """Random tokens [B, K, S], the special token (card) included."""
    g = torch.Generator().manual_seed(SEED + 11)
    return torch.randint(0, card + 1, (batch, n_q, steps), generator=g)


def build_reference(cfg: dict, hidden: torch.Tensor, mask: torch.Tensor):
    """audiocraft's LMModel as builders.get_lm_model makes it, T5 replaced by `hidden`."""
    import omegaconf
    from audiocraft.models import builders
    from audiocraft.models.lm import LMModel
    from audiocraft.modules.conditioners import ConditioningProvider, TextConditioner
    from audiocraft.utils.utils import dict_from_config

    class TableConditioner(TextConditioner):
        """Caption "c{i}" -> the i-th row of `hidden` (its first lengths[i] tokens);
        None -> nothing. Projection and masking are the reference's own (as in T5Conditioner)."""

        def tokenize(self, texts):
            rows = [int(t[1:]) if t else None for t in texts]
            L = max([lengths[r] for r in rows if r is not None] + [1])
            h = torch.zeros(len(rows), L, hidden.shape[-1])
            m = torch.zeros(len(rows), L, dtype=torch.long)
            for b, r in enumerate(rows):
                if r is not None:
                    n = lengths[r]
                    h[b, :n], m[b, :n] = hidden[r, :n], 1
            return h, m

        def forward(self, inputs):
            # tokenize builds on the CPU in float32: follow the projection's device and dtype
            # (a model moved to CUDA in bfloat16 would fail on mismatched matmul inputs)
            w = self.output_proj.weight
            h, m = inputs[0].to(w), inputs[1].to(w.device)
            return self.output_proj(h) * m.unsqueeze(-1), m

    lengths = mask.sum(1).tolist()
    conf = omegaconf.OmegaConf.create(cfg)
    kwargs = dict_from_config(conf.transformer_lm)
    # as builders does when the fuser has cross conditions
    kwargs["cross_attention"] = bool(cfg["fuser"]["cross"])
    cfg_guidance = dict_from_config(conf.classifier_free_guidance)
    provider = ConditioningProvider(
        {"description": TableConditioner(hidden.shape[-1], kwargs["dim"])}, device="cpu")
    return LMModel(
        pattern_provider=builders.get_codebooks_pattern_provider(kwargs["n_q"], conf.codebooks_pattern),
        condition_provider=provider, fuser=builders.get_condition_fuser(conf),
        cfg_dropout=cfg_guidance["training_dropout"], cfg_coef=cfg_guidance["inference_coef"],
        attribute_dropout={}, dtype=torch.float32, device="cpu", **kwargs).eval()


def make(name: str, shape: dict) -> None:
    import yaml
    from audiocraft.modules.conditioners import ConditioningAttributes
    from safetensors.torch import save_file

    cfg = xp_cfg(shape)
    lengths = shape.get("text_lengths", TEXT_LENGTHS)
    cfg_coef = shape.get("cfg_coef", 3.0)
    hidden, mask = text_table(shape["text_dim"], lengths)
    model = build_reference(cfg, hidden, mask)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    weights = seeded_weights(shapes)
    model.load_state_dict(weights, strict=True)

    captions = [f"c{i}" if n else None for i, n in enumerate(lengths)]
    attributes = [ConditioningAttributes(text={"description": c}) for c in captions]
    steps = NUM_FRAMES + shape["n_q"] - 1 + 1
    tokens = pattern_tokens(len(lengths), shape["n_q"], shape["card"], steps)
    with torch.no_grad():
        provider = model.condition_provider
        cond = provider(provider.tokenize(attributes))
        logits = model(tokens, conditions=[], condition_tensors=cond)  # [B, K, S, card]
        greedy = model.generate(conditions=attributes, max_gen_len=NUM_FRAMES,
                                use_sampling=False, cfg_coef=cfg_coef, two_step_cfg=False)
    golden = {
        "text_hidden": hidden, "text_mask": mask, "tokens": tokens,
        "logits_head": logits[..., :LOGIT_CLASSES].contiguous(),
        "logits_lse": torch.logsumexp(logits, dim=-1), "logits_argmax": logits.argmax(-1),
        "greedy_codes": greedy,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in golden.items()}, str(OUT / f"{name}.safetensors"))
    meta = {"xp_cfg": cfg, "seed": SEED, "num_frames": NUM_FRAMES, "cfg_coef": cfg_coef,
            "checksum": float(sum(w.double().abs().sum() for w in weights.values()))}
    if name not in ("released", "wide"):
        torch.save({"best_state": model.state_dict(), "xp.cfg": yaml.safe_dump(cfg),
                    "version": "1.3.0", "exported": True}, OUT / f"{name}_state_dict.bin")
    else:
        meta["shapes"] = shapes
    (OUT / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{name}: {sum(w.numel() for w in weights.values())} weights, logits {tuple(logits.shape)},"
          f" greedy codes {greedy.tolist()[0][0]}")


T5_WORDS = ["a", "dog", "barks", "while", "car", "passes", "by", "the", "rain", "falls"]
T5_CAPTIONS = ["a dog barks while a car passes by", "rain falls", ""]


def make_tiny_t5_dir(path: str | Path, words: list[str] = T5_WORDS, d_model: int = 512,
                     seed: int = SEED) -> Path:
    """A tiny T5 encoder + tokenizer folder laid out like a Hugging Face release
    (tokenizer.json, config.json, model.safetensors). With `words=[]` its tokenizer knows no
    word: the "vocabulary did not load" case."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import T5Config, T5EncoderModel, T5TokenizerFast

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("▁" + w, -1.0) for w in words]
    tok = Tokenizer(models.Unigram(vocab + [("▁", -2.0)], unk_id=2))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>",
                                                       special_tokens=[("</s>", 1)])
    T5TokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>",
                    pad_token="<pad>", extra_ids=0).save_pretrained(path)
    config = T5Config(vocab_size=len(vocab) + 1, d_model=d_model, d_kv=4, num_heads=2,
                      num_layers=1, d_ff=32)
    torch.manual_seed(seed)
    T5EncoderModel(config).save_pretrained(path)
    return Path(path)


def make_t5_conditioner() -> None:
    """The reference's T5Conditioner ("t5-small": 512 wide) on the tiny T5 folder, with a
    seeded projection: its (embeddings, mask) for three captions, one of them empty."""
    from unittest import mock

    from audiocraft.modules import conditioners
    from safetensors.torch import save_file

    folder = make_tiny_t5_dir(OUT / "tiny-t5")
    # The reference loads "t5-small" from the hub: point both loaders at the folder instead.
    load_tokenizer = conditioners.T5Tokenizer.from_pretrained
    load_encoder = conditioners.T5EncoderModel.from_pretrained
    with mock.patch.object(conditioners.T5Tokenizer, "from_pretrained",
                           lambda name, **kw: load_tokenizer(str(folder), **kw)), \
            mock.patch.object(conditioners.T5EncoderModel, "from_pretrained",
                              lambda name, **kw: load_encoder(str(folder), **kw)):
        cond = conditioners.T5Conditioner("t5-small", output_dim=8, finetune=False, device="cpu")
    weights = seeded_weights({f"output_proj.{k}": list(v.shape)
                              for k, v in cond.output_proj.state_dict().items()})
    cond.output_proj.load_state_dict({k.split(".", 1)[1]: v for k, v in weights.items()})
    with torch.no_grad():
        embeds, mask = cond(cond.tokenize(T5_CAPTIONS))
    save_file({"embeddings": embeds.contiguous(), "mask": mask.bool().contiguous(),
               "proj.weight": weights["output_proj.weight"],
               "proj.bias": weights["output_proj.bias"]}, str(OUT / "t5_conditioner.safetensors"))
    print(f"t5 conditioner: embeddings {tuple(embeds.shape)}, mask {mask.tolist()}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    for name, shape in SHAPES.items():
        make(name, shape)
    make_t5_conditioner()

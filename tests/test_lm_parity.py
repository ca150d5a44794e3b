"""Parity with the reference implementation (audiocraft 1.3.0) on identical random weights.

The golden numbers come from tools/make_lm_fixtures.py (run with the reference installed);
these tests need only the fixtures. Shapes: "tiny" (every bias on, the file reader included),
"released" (the audiogen-medium layer structure at width 96), "wide" (its full width, 2 of
its layers) and "prefix" (the paper's text prefix in place of cross-attention).
"""

import copy
import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audiogen.convert.checkpoint import read_checkpoint
from audiogen.convert.lm import (
    convert_lm_state_dict,
    import_audiocraft_lm,
    lm_config_from_xp_cfg,
)
from audiogen.lm import AudioLM
from audiogen.text.conditioner import TextCondition

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "lm"


@pytest.fixture(autouse=True)
def one_thread():
    """Small models run fastest on one thread, and many times faster than on two when the
    machine is busy (two threads then wait on each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _fixture_module():
    spec = importlib.util.spec_from_file_location("make_lm_fixtures",
                                                  ROOT / "tools" / "make_lm_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _released_model(name: str = "released") -> tuple[AudioLM, dict]:
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    weights = _fixture_module().seeded_weights(meta["shapes"], meta["seed"])
    checksum = float(sum(w.double().abs().sum() for w in weights.values()))
    assert checksum == pytest.approx(meta["checksum"], rel=1e-9), "seeded weights changed"
    model = AudioLM.from_state_dict(lm_config_from_xp_cfg(meta["xp_cfg"]),
                                    convert_lm_state_dict(weights))
    return model, meta


def _tiny_model() -> tuple[AudioLM, dict]:
    model = import_audiocraft_lm(FIXTURES / "tiny_state_dict.bin").model
    return model, json.loads((FIXTURES / "tiny.json").read_text())


def _prefix_model() -> tuple[AudioLM, dict]:
    """The text as a self-attention prefix. The importer refuses the reference's "prepend"
    fuser (it leaves a prefix's padding unmasked, which this model masks), so the config is
    the tiny one with the text moved from cross-attention to the prefix."""
    meta = json.loads((FIXTURES / "prefix.json").read_text())
    xp_cfg = copy.deepcopy(meta["xp_cfg"])
    xp_cfg["fuser"].update(prepend=[], cross=["description"])
    config = dataclasses.replace(lm_config_from_xp_cfg(xp_cfg), cross_attention=False,
                                 text_prefix=True)
    state, *_ = read_checkpoint(FIXTURES / "prefix_state_dict.bin")
    return AudioLM.from_state_dict(config, convert_lm_state_dict(state)), meta


MODELS = {"tiny": _tiny_model, "released": _released_model, "prefix": _prefix_model,
          "wide": lambda: _released_model("wide")}


@pytest.fixture(scope="module")
def built():
    """Models built once per module (the wide one is 100M weights) and freed after it."""
    cache: dict[str, tuple[AudioLM, dict]] = {}

    def get(which: str) -> tuple[AudioLM, dict]:
        if which not in cache:
            cache[which] = MODELS[which]()
        return cache[which]

    yield get
    cache.clear()


def greedy_with_guidance(model: AudioLM, cond: TextCondition, num_frames: int,
                         cfg_coef: float) -> torch.Tensor:
    """A minimal greedy decoder over start/step: [cond; null] as one batch, one step at a time."""
    B, K, special = cond.batch_size, model.config.num_codebooks, model.special_token
    pattern = model.pattern
    S = pattern.num_steps(num_frames)
    valid = pattern.valid_mask(num_frames)
    both = TextCondition.cat([cond, model.text.null(B, cond.embeddings.shape[1])])
    seq = torch.full((B, K, S), special, dtype=torch.long)
    state = model.start(both, S)
    for s in range(1, S):
        logits = model.step(seq[:, :, s - 1:s].repeat(2, 1, 1), state)[:, :, -1]
        cond_l, uncond_l = logits[:B], logits[B:]
        tokens = (uncond_l + cfg_coef * (cond_l - uncond_l)).argmax(-1)
        seq[:, :, s] = torch.where(valid[:, s], tokens, special)
    return pattern.revert(seq, num_frames)


@pytest.mark.parametrize("which", list(MODELS))
def test_logits_and_greedy_generation_match_reference(which, built):
    model, meta = built(which)
    golden = load_file(str(FIXTURES / f"{which}.safetensors"))
    cond = model.text.project(golden["text_hidden"], golden["text_mask"])
    with torch.no_grad():
        logits = model(golden["tokens"], cond)
    n = golden["logits_head"].shape[-1]
    torch.testing.assert_close(logits[..., :n], golden["logits_head"], atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.logsumexp(logits, -1), golden["logits_lse"], atol=1e-4, rtol=0)
    assert torch.equal(logits.argmax(-1), golden["logits_argmax"])
    codes = greedy_with_guidance(model, cond, meta["num_frames"], meta["cfg_coef"])
    assert torch.equal(codes, golden["greedy_codes"])


def test_released_structure_config():
    meta = json.loads((FIXTURES / "released.json").read_text())
    config = lm_config_from_xp_cfg(meta["xp_cfg"])
    assert (config.num_layers, config.num_heads, config.ffn_dim) == (48, 24, 4 * 96)
    assert not (config.bias_attn or config.bias_ffn or config.bias_heads)
    assert config.pattern == "delay" and config.delays == [0, 1, 2, 3]
    assert config.text.kind == "t5" and config.text.dim == 1024
    assert config.cross_attention_mask is False


@pytest.mark.parametrize("which", ["tiny", "released", "wide"])
def test_project_decoder_reproduces_reference_greedy_tokens(which, built):
    """The whole decode path (audiogen.generation's loop, guidance in one 2B batch, the
    sampler in greedy mode) on the imported weights gives the reference's tokens."""
    from audiogen.generation.generator import decode
    from audiogen.lm.sampling import SamplingParams

    model, meta = built(which)
    golden = load_file(str(FIXTURES / f"{which}.safetensors"))
    cond = model.text.project(golden["text_hidden"], golden["text_mask"])
    both = TextCondition.cat([cond, model.text.null(cond.batch_size)])
    with torch.no_grad():
        codes = decode(model, both, meta["num_frames"], guidance=meta["cfg_coef"],
                       sampling=SamplingParams(temperature=0.0))
    assert torch.equal(codes, golden["greedy_codes"])

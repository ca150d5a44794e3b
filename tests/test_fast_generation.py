"""The fast decoding path (audiogen.generation.fast) picks exactly the plain path's tokens.

Greedy decoding with FastDecoder (default, static cache, torch.compile) equals greedy decoding
with the plain AudioLM and the full-forward loop (no cache at all); preparing the model (fused
heads) leaves its function and its saved weights unchanged; half-precision weights stay close.
"""

import copy
import dataclasses

import pytest
import torch

from audiogen.generation import DecodePlan, decode
from audiogen.generation.fast import STATIC_BUCKET, FastDecoder
from audiogen.lm import AudioLM, lm_preset
from audiogen.lm.sampling import SamplingParams
from audiogen.text.conditioner import TextCondition

GREEDY = SamplingParams(temperature=0.0)
BIASES = {"bias_attn": True, "bias_ffn": True, "bias_heads": True}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and many times faster than on two when the
    machine is busy (two threads then wait on each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _lm(**overrides) -> AudioLM:
    """The tiny preset with larger weights than its init, so that logits are far from uniform
    (greedy ties would make token equality a matter of rounding)."""
    torch.manual_seed(0)
    config = dataclasses.replace(lm_preset("tiny"), card=64, **overrides)
    lm = AudioLM(config).eval()
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if p.dim() == 2:
                p.mul_(2.0)
            elif name.endswith("bias"):
                p.normal_(0.0, 0.1)  # zero at init: would test nothing
    return lm


def _cond(rows: int) -> TextCondition:
    lengths = torch.tensor([3, 2, 0, 1, 3, 0])[:rows]
    mask = torch.arange(3)[None] < lengths[:, None]
    return TextCondition(torch.randn(rows, 3, 32) * mask[..., None], mask)


def _full_forward_greedy(lm: AudioLM, cond, T: int, prompt: torch.Tensor, gamma: float):
    """No cache: the whole sequence through the model at every step."""
    B, K, P = prompt.shape
    plan = DecodePlan.build(lm.pattern, K, T, P, torch.device("cpu"))
    codes = torch.zeros(B, K, T, dtype=torch.long)
    codes[..., :P] = prompt
    seq = lm.pattern.build(codes, lm.config.card)
    with torch.no_grad():
        for s in range(plan.first_step, plan.num_steps):
            logits = lm(torch.cat([seq[..., :s]] * 2), cond)[:, :, -1]
            tokens = (logits[B:] + gamma * (logits[:B] - logits[B:])).argmax(-1)
            tokens = torch.where(plan.valid[:, s], tokens, lm.config.card)
            seq[..., s] = torch.where(plan.known[:, s], seq[..., s], tokens)
    return lm.pattern.revert(seq, T)


@pytest.mark.parametrize(("overrides", "static"), [
    ({}, False), ({}, True), ({"text_prefix": True}, False), ({"text_prefix": True}, True),
    ({"cross_attention_mask": False}, False), ({"pattern": "flattened"}, False),
    (BIASES, False)])
@pytest.mark.parametrize("prompt_frames", [0, 3])
def test_fast_greedy_equals_plain_and_full_forward(overrides, static, prompt_frames):
    lm = _lm(**overrides)
    B, T, gamma = 2, 12, 3.0
    cond = _cond(2 * B)
    prompt = torch.randint(0, lm.config.card, (B, 4, prompt_frames))
    kwargs = {"prompt": prompt if prompt_frames else None, "guidance": gamma, "sampling": GREEDY}
    plain = decode(lm, cond, T, **kwargs)
    fast = decode(FastDecoder(copy.deepcopy(lm), static=static), cond, T, **kwargs)
    assert torch.equal(fast, plain)
    assert torch.equal(plain, _full_forward_greedy(lm, cond, T, prompt, gamma))


def test_fast_step_logits_match_the_plain_step():
    lm = _lm()
    fast = FastDecoder(copy.deepcopy(lm))
    cond = _cond(4)
    tokens = torch.randint(0, 65, (4, 4, 5))
    plain_state, fast_state = lm.start(cond, 8), fast.start(cond, 8)
    for n in (3, 1, 1):  # a prefill, then single steps
        chunk, tokens = tokens[..., :n], tokens[..., n:]
        expected = lm.step(chunk, plain_state)
        torch.testing.assert_close(fast.step(chunk, fast_state), expected, atol=1e-5, rtol=1e-5)
    assert fast_state.cache.length == plain_state.cache.length == 5


def test_prepare_keeps_the_model_and_its_saved_weights(tmp_path):
    lm = _lm()
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    seq = torch.randint(0, 65, (2, 4, 6))
    cond = _cond(2)
    with torch.no_grad():
        expected = lm(seq, cond)
    fast = FastDecoder(lm)
    assert fast.lm is lm  # changed in place: no second copy of the weights
    heads = [h.weight for h in lm.heads]
    assert all(w.untyped_storage().data_ptr() == heads[0].untyped_storage().data_ptr()
               for w in heads)  # one buffer, one product
    with torch.no_grad():
        torch.testing.assert_close(lm(seq, cond), expected, atol=1e-5, rtol=1e-5)
    lm.save(tmp_path)
    reloaded = AudioLM.load(tmp_path)
    for k, v in reloaded.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("overrides", [{}, BIASES])
def test_half_weights_stay_close_to_float32(dtype, overrides):
    lm = _lm(**overrides)
    cond = _cond(2)
    tokens = torch.randint(0, 65, (2, 4, 4))
    expected = lm.step(tokens, lm.start(cond, 4))
    fast = FastDecoder(copy.deepcopy(lm), dtype=dtype)
    assert fast.lm.transformer.layers[0].ffn_in.weight.dtype == dtype
    state = fast.start(cond, 4)
    assert state.cache.k.dtype == torch.float32  # CPU: activations and cache stay float32
    logits = fast.step(tokens, state)
    assert logits.dtype == torch.float32
    err = (logits - expected).abs().max() / expected.abs().max()
    assert 0 < err < 0.03


def test_fast_decoder_generates_through_the_api():
    from audiogen.api import AudioGen
    from audiogen.codec import Codec
    from tests.tiny_model import tiny_codec_config

    torch.manual_seed(0)
    codec = Codec(tiny_codec_config())
    lm = AudioLM(lm_preset("tiny"))
    plain = AudioGen(codec, copy.deepcopy(lm)).generate(["a dog"], duration=0.3, seed=3,
                                                        temperature=0.0)[0]
    fast = AudioGen(codec, FastDecoder(lm)).generate(["a dog"], duration=0.3, seed=3,
                                                     temperature=0.0)[0]
    assert fast.shape == plain.shape
    torch.testing.assert_close(fast, plain)


@pytest.mark.slow
def test_compiled_step_greedy_equals_plain():
    lm = _lm()
    cond = _cond(4)
    plain = decode(lm, cond, 8, guidance=3.0, sampling=GREEDY)
    fast = FastDecoder(copy.deepcopy(lm), compile=True)
    assert torch.equal(decode(fast, cond, 8, guidance=3.0, sampling=GREEDY), plain)
    assert fast.compile_seconds is not None and fast.compile_seconds > 0
    # another duration in the same cache bucket: the same shapes, so no recompilation
    from torch._dynamo.utils import counters

    compiled = counters["stats"]["unique_graphs"]
    longer = decode(fast, cond, 12, guidance=3.0, sampling=GREEDY)
    assert torch.equal(longer, decode(lm, cond, 12, guidance=3.0, sampling=GREEDY))
    assert counters["stats"]["unique_graphs"] == compiled


def test_wrapping_twice_is_refused_with_a_clear_message():
    fast = FastDecoder(AudioLM(lm_preset("tiny")))
    with pytest.raises(TypeError, match="fast=False"):
        FastDecoder(fast)


# ---- the CUDA branches, simulated on the CPU ------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_branch_agrees_with_the_plain_model(dtype):
    """As on CUDA: half-precision products, attention and KV cache (act_dtype forced), the
    residual stream, norms and embeddings float32. Teacher-forced over 60 steps x 4 codebooks
    x 4 rows, the argmax agrees with the float32 plain model on >= 97% of positions (measured:
    98.9-99.9%) and logits within 3% of their largest magnitude (measured: 0.1-1.5%)."""
    lm = _lm()
    cond = _cond(4)
    tokens = torch.randint(0, 65, (4, 4, 60))
    expected = lm.step(tokens, lm.start(cond, 60))
    fast = FastDecoder(copy.deepcopy(lm), dtype=dtype, act_dtype=dtype)
    state = fast.start(cond, 60)
    assert state.cache.k.dtype == dtype and state.cross.kv[0][0].dtype == dtype
    assert fast.lm.transformer.norm_out.weight.dtype == torch.float32
    assert fast.lm.embeddings[0].weight.dtype == torch.float32
    runs = []
    original = fast.lm.transformer.run
    fast.lm.transformer.run = lambda x, *a: runs.append(x.dtype) or original(x, *a)
    logits = fast.step(tokens, state)
    assert runs == [torch.float32]  # the residual stream enters (and leaves) in float32
    assert logits.dtype == dtype
    agree = (logits.argmax(-1) == expected.argmax(-1)).float().mean()
    err = (logits.float() - expected).abs().max() / expected.abs().max()
    assert agree >= 0.97 and 0 < err < 0.03


def test_graphed_decoder_keeps_its_buffers_for_the_same_shape():
    """With cuda_graphs (on a CPU the step runs eagerly, the bookkeeping is the same): the
    cache is rounded up to a bucket and reused, so two durations in one bucket share it (and
    on CUDA the captured graph); the tokens stay the plain model's."""
    lm = _lm()
    cond = _cond(4)
    fast = FastDecoder(copy.deepcopy(lm), cuda_graphs=True)
    pointers = []
    for T in (12, 20):
        plain = decode(lm, cond, T, guidance=3.0, sampling=GREEDY)
        assert torch.equal(decode(fast, cond, T, guidance=3.0, sampling=GREEDY), plain)
        cache = fast._kept.cache
        assert cache.max_len == STATIC_BUCKET
        pointers.append((cache.k.data_ptr(), fast._kept.cross.kv[0][0].data_ptr()))
    assert pointers[0] == pointers[1]
    decode(fast, _cond(2), 12, sampling=GREEDY)  # another batch: new buffers
    assert fast._kept.cache.k.shape[1] == 2


def test_fast_decoder_moves_with_its_buffers():
    fast = FastDecoder(_lm(**BIASES))
    assert dict(fast.named_buffers(recurse=False)).keys() == {"_heads", "_heads_bias"}
    fast.to(torch.float64)
    assert fast._heads_bias.dtype == torch.float64


def test_both_decoders_have_what_the_loop_needs():
    from fake_lm import FakeLM

    from audiogen.generation.decoder import Decoder

    lm = _lm()
    assert isinstance(lm, Decoder) and isinstance(FastDecoder(copy.deepcopy(lm)), Decoder)
    assert isinstance(FakeLM(card=16, num_codebooks=4), Decoder)
    assert not isinstance(lm.transformer, Decoder)


# ---- int8 weights (audiogen.generation.int8) ------------------------------------------------

def test_int8_rows_round_trip_within_half_a_step():
    from audiogen.generation.int8 import quantize_rows

    w = torch.randn(6, 40) * torch.tensor([1e-3, 0.1, 1.0, 10.0, 0.0, 3.0])[:, None]
    q, scale = quantize_rows(w)
    assert q.dtype == torch.int8 and q.shape == w.shape and scale.shape == (6,)
    assert q.abs().max() == 127 and torch.isfinite(scale).all()  # an all-zero row too
    assert ((q.float() * scale[:, None] - w).abs() <= scale[:, None] / 2 + 1e-7).all()


def test_int8_products_of_a_row_slice_are_the_slice_of_the_products():
    """The attention takes q and k/v as row slices of in_proj: each slice gets its own
    packed copy, with its own rows' scales."""
    from audiogen.generation.int8 import Int8Products, quantize_rows

    products = Int8Products()
    weight = torch.randn(24, 16)
    w = products.quantize(weight)
    x, bias = torch.randn(2, 3, 16), torch.randn(24)
    full = products(x, w, bias)
    assert full.shape == (2, 3, 24) and full.dtype == torch.float32
    assert torch.equal(products(x, w[8:], bias[8:]), full[..., 8:])
    assert torch.equal(products(x, w[:8], bias[:8]), full[..., :8])
    q, scale = quantize_rows(weight)
    exact = x @ (q.float() * scale[:, None]).t()  # the int8 weights: only x is rounded here
    assert ((products(x, w) - exact).abs().max() / exact.abs().max()) < 0.02


@pytest.mark.parametrize("overrides", [{}, BIASES, {"text_prefix": True}])
def test_int8_weights_stay_close_to_float32(overrides):
    """Teacher-forced over 60 steps x 4 codebooks x 4 rows, 5 text conditions: the argmax
    agrees with the float32 plain model on >= 90% of positions (measured on these models:
    94-97%; bfloat16: about 99%), logits within 10% of their largest magnitude (measured:
    4-8%). These test models have doubled random weights, so near-ties are frequent."""
    lm = _lm(**overrides)
    cond = _cond(4)
    tokens = torch.randint(0, 65, (4, 4, 60))
    expected = lm.step(tokens, lm.start(cond, 60))
    fast = FastDecoder(copy.deepcopy(lm), dtype=torch.int8)
    layer = fast.lm.transformer.layers[0]
    assert fast.dtype == torch.int8 and layer.ffn_in.weight.dtype == torch.int8
    assert layer.ffn_in.weight.shape == lm.transformer.layers[0].ffn_in.weight.shape
    assert layer.norm_ffn.weight.dtype == fast.lm.embeddings[0].weight.dtype == torch.float32
    if overrides == BIASES:
        assert layer.ffn_in.bias.dtype == fast._heads_bias.dtype == torch.float32
    state = fast.start(cond, 60)
    assert state.cache.k.dtype == torch.float32
    logits = fast.step(tokens, state)
    assert logits.shape == expected.shape and logits.dtype == torch.float32
    agree = (logits.argmax(-1) == expected.argmax(-1)).float().mean()
    err = (logits - expected).abs().max() / expected.abs().max()
    assert agree >= 0.9 and 0 < err < 0.1


def test_int8_greedy_tokens_mostly_agree_with_float32():
    """Free-running greedy decoding, 40 frames of 2 prompts under guidance: one different
    token changes every later step, so agreement is lower than teacher-forced (measured over 5
    seeds: 56-87%, 68% for this one)."""
    lm = _lm()
    torch.manual_seed(0)
    cond = _cond(4)
    kwargs = {"guidance": 3.0, "sampling": GREEDY}
    plain = decode(lm, cond, 40, **kwargs)
    int8 = decode(FastDecoder(copy.deepcopy(lm), dtype=torch.int8), cond, 40, **kwargs)
    assert int8.shape == plain.shape == (2, 4, 40)
    assert (int8 == plain).float().mean() >= 0.5


@pytest.mark.parametrize("options", [{"compile": True}, {"cuda_graphs": True},
                                     {"act_dtype": torch.bfloat16}])
def test_int8_with_other_step_options_is_refused(options):
    with pytest.raises(ValueError, match="int8 weights run on a CPU"):
        FastDecoder(_lm(), dtype=torch.int8, **options)

"""What the CUDA paths rely on, checked on a CPU: from_pretrained's decoding options, the
random generator's device, the GPU a process takes under torchrun."""

import pytest
import torch
from tiny_model import tiny_model_dir

from audiogen import distributed
from audiogen.api import AudioGen, decoding_options
from audiogen.errors import AudiogenError
from audiogen.lm.sampling import sample_categorical


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("model"))


CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


def test_decoding_defaults_bf16_and_graphs_on_cuda_float32_on_cpu():
    assert decoding_options(CUDA, True, None, None) == (torch.bfloat16, True)
    assert decoding_options(CPU, True, None, None) == (torch.float32, False)
    assert decoding_options(CUDA, False, None, None) == (torch.float32, False)
    assert decoding_options(CUDA, True, "float16", False) == (torch.float16, False)
    assert decoding_options(CPU, True, "int8", None) == (torch.int8, False)
    assert decoding_options(MPS, True, None, None) == (torch.float32, False)


@pytest.mark.parametrize(("args", "message"), [
    ((CPU, True, None, True), "CUDA graphs need a CUDA device"),
    ((CUDA, False, "bfloat16", None), "options of the fast decoder"),
    ((CPU, True, "half", None), "unknown dtype 'half'"),
    ((CPU, True, torch.float64, None), "unsupported dtype"),
    ((CUDA, True, "int8", None), "int8 weights are a CPU option: on CUDA use bfloat16"),
    ((MPS, True, "int8", None), "int8 weights are a CPU option: on MPS use bfloat16"),
    ((CPU, False, "int8", None), "options of the fast decoder"),
])
def test_bad_decoding_options_are_refused(args, message):
    with pytest.raises(AudiogenError, match=message):
        decoding_options(*args)


def test_int8_on_mps_is_refused_before_loading(model_dir, monkeypatch):
    """A machine with an Apple GPU (faked here): one clear error, not the kernel's
    traceback from deep inside the decoder."""
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    with pytest.raises(AudiogenError, match="^int8 weights are a CPU option: on MPS"):
        AudioGen.from_pretrained(model_dir, device="mps", dtype="int8")


def test_from_pretrained_on_cpu_is_unchanged_and_takes_a_dtype(model_dir):
    default = AudioGen.from_pretrained(model_dir, device="cpu")
    assert default.lm.dtype == torch.float32 and not default.lm.cuda_graphs
    half = AudioGen.from_pretrained(model_dir, device="cpu", dtype="bfloat16")
    assert half.lm.dtype == torch.bfloat16 and half.lm.act_dtype == torch.float32
    wav, _ = half.generate(["rain"], duration=0.2, seed=1)
    assert torch.isfinite(wav).all()
    int8 = AudioGen.from_pretrained(model_dir, device="cpu", dtype="int8")
    assert int8.lm.dtype == torch.int8 and int8.lm.act_dtype == torch.float32
    wav, _ = int8.generate(["rain"], duration=0.2, seed=1)
    assert wav.shape == (1, 1, round(0.2 * int8.sample_rate)) and torch.isfinite(wav).all()


class _CudaGenerator:
    device = torch.device("cuda", 0)


def test_a_generator_on_another_device_gets_a_clear_error():
    with pytest.raises(AudiogenError, match=r"generator is on cuda:0 .* torch.Generator\("
                                            r"device='cpu'\)"):
        sample_categorical(torch.ones(2, 5), _CudaGenerator())


def test_each_process_takes_a_gpu_it_can_see(monkeypatch):
    """torchrun's LOCAL_RANK 3 with only one visible GPU (a launcher that isolates them)."""
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # resolve_device asks first
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    assert distributed.init("cuda") == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert distributed.init("cuda") == torch.device("cuda", 1)


def test_lm_training_steps_under_bf16_autocast(tmp_path):
    """precision=bf16 is a CUDA setting; forced here on the CPU's autocast: the products run
    in bfloat16, the weights, gradients and optimizer state stay float32, and the losses of
    3 steps stay within 0.1% of float32 training's (measured: 7e-5)."""
    from lm_train_data import make_cache, make_codec, make_corpus, tiny_config

    from audiogen.train.lm_trainer import LMTrainer

    manifest = make_corpus(tmp_path, clips=6, valid=2)
    codec = make_codec(tmp_path)
    config = tiny_config(cache=str(make_cache(tmp_path, manifest, codec)), codec=str(codec),
                         steps=3, grad_accum=2, precision="bf16")
    losses = {}
    for amp in (None, torch.bfloat16):
        trainer = LMTrainer(config, tmp_path / str(amp))
        assert trainer.amp_dtype is None  # on a CPU the setting is ignored...
        trainer.amp_dtype = amp  # ...unless forced, as here
        seen = []
        trainer.lm.heads[0].register_forward_hook(lambda m, i, out, seen=seen: seen.append(out.dtype))
        losses[amp] = [trainer.train_step()["ce"] for _ in range(3)]
        assert set(seen) == {amp or torch.float32}
        assert all(p.dtype == torch.float32 for p in trainer.lm.parameters())
    assert losses[None][-1] < losses[None][0]
    assert losses[torch.bfloat16] == pytest.approx(losses[None], rel=1e-3)



def test_codec_training_steps_under_bf16_autocast(tmp_path):
    """precision=bf16 is a CUDA setting; forced here on the CPU's autocast: the codec's and the
    discriminator's layers run in bfloat16, the weights, codebooks and optimizer state stay
    float32. The first step (same weights, same batch) gives every loss within 1% of float32's
    (measured: 1e-3 at most); 8 steps lower the mel loss by a third in both precisions, ending
    within 5% of each other (measured: 0.9%). (init_gain: an untrained codec without it outputs
    near silence, whose log-mel magnifies rounding: 6% apart at the first step.)"""
    from test_codec_train import tiny_config, write_clip

    from audiogen.train.codec_trainer import CodecTrainer

    write_clip(tmp_path / "a.wav", 1.5)
    write_clip(tmp_path / "b.wav", 1.0, freq=880.0, seed=1)
    runs = {}
    for amp in (None, torch.bfloat16):
        trainer = CodecTrainer(tiny_config(tmp_path, precision="bf16", init_gain=1.732,
                                           disc_update_share=1.0), tmp_path / str(amp))
        assert trainer.amp_dtype is None  # on a CPU the setting is ignored...
        trainer.amp_dtype = amp  # ...unless forced, as here
        seen = []
        for layer in (trainer.codec.decoder.conv_out, trainer.disc.discriminators[0].post):
            layer.register_forward_hook(lambda m, i, out, seen=seen: seen.append(out.dtype))
        runs[amp] = []
        for step in range(8):
            trainer.step = step
            runs[amp].append(trainer.train_step())
        assert set(seen) == {amp or torch.float32}
        state = [*trainer.codec.state_dict().values(), *trainer.disc.state_dict().values(),
                 *(v for s in trainer.opt_g.state.values() for k, v in s.items() if k != "step")]
        assert {t.dtype for t in state} == {torch.float32}
    fp32, bf16 = runs[None], runs[torch.bfloat16]
    for key in ("g/l1", "g/mel", "g/adv", "g/feat", "g/commitment", "d/hinge"):
        assert bf16[0][key] == pytest.approx(fp32[0][key], rel=1e-2), key
    for run in (fp32, bf16):
        assert run[-1]["g/mel"] < 2 / 3 * run[0]["g/mel"]
    assert bf16[-1]["g/mel"] == pytest.approx(fp32[-1]["g/mel"], rel=0.05)

def test_dataloader_pins_the_batch_dataclasses(monkeypatch):
    """DataLoader(pin_memory=True) hands a batch object to its own pin_memory(); without one,
    a dataclass batch would stay in pageable memory. (Pinning needs CUDA: simulated.)"""
    from torch.utils.data._utils.pin_memory import pin_memory

    from audiogen.data.dataset import AudioBatch
    from audiogen.data.token_cache import CodeBatch

    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory",
                        lambda t, *a: pinned.append(tuple(t.shape)) or t.clone())
    codes = CodeBatch(torch.zeros(2, 4, 5, dtype=torch.long), torch.tensor([5, 3]), ["a", "b"],
                      torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.bool))
    out = pin_memory(codes)
    assert isinstance(out, CodeBatch) and out.captions == ["a", "b"]
    assert pinned == [(2, 4, 5), (2,), (2, 3, 4), (2, 3)]
    pinned.clear()
    audio = pin_memory(AudioBatch(torch.zeros(2, 1, 80), torch.tensor([80, 40]), ["a", "b"]))
    assert isinstance(audio, AudioBatch) and pinned == [(2, 1, 80), (2,)]

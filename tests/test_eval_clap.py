"""CLAP score and CLAP embedder on a tiny random CLAP saved in transformers format.

Random weights: these tests check loading offline, shapes, determinism and the report, not
the meaning of the scores (real LAION-CLAP weights cannot be fetched here).
"""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogen.cli.main import main


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        RobertaTokenizerFast,
    )
    from transformers.models.clap.configuration_clap import ClapAudioConfig, ClapTextConfig

    d = tmp_path_factory.mktemp("clap")
    text = ClapTextConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=32,
                          max_position_embeddings=40, projection_dim=8)
    audio = ClapAudioConfig(window_size=8, spec_size=256, num_mel_bins=64, patch_size=4,
                            patch_stride=(4, 4), hidden_size=16, depths=[1, 1],
                            num_attention_heads=[2, 2], patch_embeds_hidden_size=8,
                            projection_dim=8, enable_fusion=False)
    torch.manual_seed(0)
    ClapModel(ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(),
                         projection_dim=8)).save_pretrained(str(d))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab["Ġ" + c] = len(vocab)
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = RobertaTokenizerFast(vocab_file=str(d / "vocab.json"),
                                     merges_file=str(d / "merges.txt"))
    extractor = ClapFeatureExtractor(feature_size=64, sampling_rate=48000, hop_length=480,
                                     max_length_s=1, fft_window_size=1024,
                                     truncation="rand_trunc")
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(d))
    return d


def test_clap_embeddings_are_normalised_and_deterministic(clap_dir):
    from audiogen.eval.clap import Clap, clap_score

    clap = Clap(clap_dir)
    assert clap.sample_rate == 48000 and clap.dim == 8
    long_clip = 0.1 * torch.randn(1, 72000)  # two 1 s windows: no random crop may happen
    a, b = clap.audio_embedding(long_clip), clap.audio_embedding(long_clip.clone())
    assert a.shape == (8,) and torch.equal(a, b)
    assert float(a.norm()) == pytest.approx(1.0, abs=1e-5)
    assert clap.window_embeddings(long_clip).shape == (2, 8)
    text = clap.text_embeddings(["a dog barks", "rain on a roof"])
    assert text.shape == (2, 8)
    scores = clap_score(torch.stack([a, a]), text)
    assert scores.shape == (2,) and (scores.abs() <= 1 + 1e-6).all()


def test_clap_embedder_through_the_table(clap_dir):
    from audiogen.eval.embedders import build_embedder

    emb = build_embedder("clap", clap=str(clap_dir))
    assert emb.embed(0.1 * torch.randn(1, 48000)).shape == (1, 8)


def test_evaluate_reports_clap_score(tmp_path, clap_dir, capsys):
    from audiogen.codec import Codec, CodecConfig

    Codec(CodecConfig(n_filters=4, ratios=[4, 2], dimension=8, lstm_layers=0, n_q=2,
                      bins=16)).save(tmp_path / "codec")
    gen = tmp_path / "gen"
    gen.mkdir()
    rng = np.random.default_rng(0)
    for k in range(4):
        sf.write(str(gen / f"c{k}.wav"), (0.1 * rng.standard_normal(16000)).astype(np.float32),
                 16000)
    (tmp_path / "captions.tsv").write_text("c0\ta dog\nc1.wav\train\nc2\twind\n")
    threads = torch.get_num_threads()
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--generated", str(gen), "--reference", str(gen), "-o",
              str(tmp_path / "r.json"), "--embedder", "codec", "--codec", str(tmp_path / "codec"),
              "--classifier", "none", "--captions", str(tmp_path / "captions.tsv"),
              "--clap", str(clap_dir), "--spectrograms", "0", "--threads", "1"])
    torch.set_num_threads(threads)
    assert e.value.code == 0, capsys.readouterr().err
    clap = json.loads((tmp_path / "r.json").read_text())["clap"]
    assert clap["available"] and clap["clips"] == 3 and clap["uncaptioned"] == 1
    assert -1 <= clap["value"] <= 1

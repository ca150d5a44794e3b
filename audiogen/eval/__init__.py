"""Evaluation: FAD (fixed N and FAD-inf) with pluggable embedders, KL of classifier label
distributions, CLAP text-audio consistency, codec quality against Opus, and reports.

    fad.py          Fréchet distance, FAD at N, FAD-inf
    embedders/      the embedder protocol and table; aisfx, codec latents, VGGish, PANNs
    kl.py           the classifier protocol and table; KL(reference || generated)
    clap.py         CLAP score and CLAP audio embeddings from local weights
    audio_sets.py   folders of audio: listing, checks, loading at a common rate
    pipeline.py     `audiogen evaluate`
    report.py       JSON + Markdown report with spectrograms (audiogen.plots)
    codec_eval.py   `audiogen evaluate-codec`
    pitch.py        pitch fidelity: f0 (pYIN) kept within 50 cents on voiced frames
"""

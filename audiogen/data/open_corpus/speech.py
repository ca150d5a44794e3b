"""Speech synthesised by espeak-ng: short sentences in several languages, voices and speeds.

Two classes, `speech_male` and `speech_female`, from espeak-ng's male (m1-m7) and female
(f1-f5) voice variants, at varied speeds and pitches. All renders of one sentence share a
group (per class), so the test split holds sentences no training clip of the class says.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import soundfile as sf
import torch

from audiogen.audio.io import resample
from audiogen.data.open_corpus.captions import CLASSES
from audiogen.data.open_corpus.clips import (
    MAX_SECONDS,
    SAMPLE_RATE,
    Clip,
    normalize,
    pick_captions,
    rng_for,
    trim_silence,
)

SOURCE = "espeak-ng"
LICENSE = "GPL-3+ (espeak-ng; synthesised output)"
ATTRIBUTION = "synthesised with espeak-ng (Jonathan Duddington, Reece H. Dunn et al.)"
LABELS = ("speech_male", "speech_female")
VOICES = {"speech_male": [f"m{i}" for i in range(1, 8)],
          "speech_female": [f"f{i}" for i in range(1, 6)]}
WHO = {"speech_male": ["a man", "a male voice"], "speech_female": ["a woman", "a female voice"]}

# espeak-ng voice -> (language in English, short sentences)
SENTENCES: dict[str, tuple[str, list[str]]] = {
    "en": ("english", [
        "The weather is lovely today.", "Please close the door behind you.",
        "Where did you put my keys?", "The train leaves at seven o'clock.",
        "I would like a cup of tea.", "Turn left at the next corner.",
        "We are going to the market.", "Can you hear the birds singing?",
        "The meeting starts in five minutes.", "Thank you very much for your help.",
        "It is getting dark outside.", "Let us read a book together.",
        "My brother plays the guitar.", "Dinner is ready, come to the table.",
    ]),
    "en-us": ("english", [
        "Good morning, how are you doing?", "The store closes at nine tonight.",
        "Don't forget to call your mother.", "I think it is going to rain.",
        "Our flight was delayed by an hour.", "Could you pass me the salt?",
    ]),
    "de": ("german", [
        "Guten Morgen, wie geht es dir?", "Das Wetter ist heute schön.",
        "Der Zug fährt um acht Uhr ab.", "Ich möchte einen Kaffee, bitte.",
        "Wir gehen morgen in den Park.", "Vielen Dank für deine Hilfe.",
    ]),
    "fr": ("french", [
        "Bonjour, comment allez-vous?", "Il fait beau aujourd'hui.",
        "Le train part à huit heures.", "Je voudrais un café, s'il vous plaît.",
        "Nous allons au marché demain.", "Merci beaucoup pour votre aide.",
    ]),
    "es": ("spanish", [
        "Buenos días, ¿cómo estás?", "Hoy hace muy buen tiempo.",
        "El tren sale a las ocho.", "Quisiera un café, por favor.",
        "Mañana vamos a la playa.", "Muchas gracias por tu ayuda.",
    ]),
    "it": ("italian", [
        "Buongiorno, come stai?", "Oggi il tempo è bellissimo.",
        "Il treno parte alle otto.", "Vorrei un caffè, per favore.",
        "Domani andiamo al mare.", "Grazie mille per il tuo aiuto.",
    ]),
}


def espeak_missing() -> list[str]:
    return [] if shutil.which("espeak-ng") else ["espeak-ng"]


def _captions(label: str, language: str, pace: str, rng: np.random.Generator) -> list[str]:
    who = str(rng.choice(WHO[label]))
    gender = "male" if label == "speech_male" else "female"
    captions = [f"{who} speaks {language}", f"{who} says a short sentence in {language}",
                f"a synthesized {gender} voice speaks {language}"]
    if pace != "normal":
        adverb = "quickly" if pace == "fast" else "slowly"
        captions.insert(1, f"{who} speaks {adverb} in {language}")
    return captions


def render_class(label: str, count: int, seed: int) -> list[Clip]:
    """`count` spoken sentences in voices of `label` (one of LABELS)."""
    rng = rng_for(seed, "speech", label)
    sentences = [(voice, i, language, text) for voice, (language, texts) in SENTENCES.items()
                 for i, text in enumerate(texts)]
    order = rng.permutation(len(sentences))
    clips = []
    for n in range(count):
        voice, index, language, text = sentences[order[n % len(sentences)]]
        variant = str(rng.choice(VOICES[label]))
        pace = str(rng.choice(["slow", "normal", "normal", "fast"]))
        words_per_minute = {"slow": 120, "normal": 160, "fast": 210}[pace]
        words_per_minute += int(rng.integers(-10, 11))
        pitch = int(rng.integers(30, 71))
        cmd = ["espeak-ng", "-v", f"{voice}+{variant}", "-s", str(words_per_minute),
               "-p", str(pitch), "--stdout", text]
        out = subprocess.run(cmd, check=True, capture_output=True).stdout
        samples, rate = sf.read(io.BytesIO(out), dtype="float32", always_2d=True)
        wav = resample(torch.from_numpy(np.ascontiguousarray(samples.T)), rate, SAMPLE_RATE)
        wav = trim_silence(wav)[:, : int(MAX_SECONDS * SAMPLE_RATE)]
        crng = rng_for(seed, "speech-captions", label, str(n))
        clips.append(Clip(
            wav=normalize(wav), label=label,
            captions=pick_captions(crng, _captions(label, language, pace, crng), CLASSES[label]),
            source=SOURCE, license=LICENSE, attribution=ATTRIBUTION,
            group=f"speech:{label}:{voice}:{index}", name=f"espeak_{label}_{n:03d}",
            extra={"voice": f"{voice}+{variant}", "words_per_minute": words_per_minute,
                   "pitch": pitch, "text": text}))
    return clips

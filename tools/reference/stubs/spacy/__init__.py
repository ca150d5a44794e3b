"""Stand-in for spacy: audiocraft imports it for text normalisation, which v2 leaves off."""


def load(*args, **kwargs):
    raise NotImplementedError("spacy is a stand-in here; text normalisation is not supported")

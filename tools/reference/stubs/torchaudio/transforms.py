class _Unavailable:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"torchaudio.transforms.{type(self).__name__} is a stand-in here")


class Spectrogram(_Unavailable):
    pass


class MelSpectrogram(_Unavailable):
    pass


class Resample(_Unavailable):
    pass


class Loudness(_Unavailable):
    pass

import julius


def resample(waveform, orig_freq, new_freq, **kwargs):
    return julius.resample_frac(waveform, int(orig_freq), int(new_freq))

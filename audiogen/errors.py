"""User-facing errors.

Anything a user can cause (a bad file, a missing model, an out-of-range option) raises
`AudiogenError` with a message that names the problem and the fix. The CLI prints the message
without a traceback and exits with status 2; programming errors keep their traceback.
"""


class AudiogenError(Exception):
    """An error caused by input or environment, with a message meant for the user."""


class AudioReadError(AudiogenError):
    """An audio file is missing, unreadable, empty, or holds non-finite samples."""


class MissingFilesError(AudiogenError):
    """A model or data directory lacks files it needs; the message lists them and where they go."""

    def __init__(self, what: str, missing: list[str], where: str, hint: str = ""):
        lines = [f"{what}: missing file(s) in {where}:"] + [f"  - {m}" for m in missing]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))
        self.missing = missing


class DamagedFileError(AudiogenError):
    """A file that should be there cannot be read: missing, empty, cut short or not in its
    format. Training resume skips a checkpoint holding one (see train/checkpoint.py)."""

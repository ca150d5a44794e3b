"""An open sound corpus built offline from freely licensed packages.

Sources, one module each: `game_sfx` (recorded effects in Debian game-data packages), `midi`
(General MIDI instruments and effects rendered by FluidSynth), `speech` (espeak-ng),
`procedural` (sirens, beeps, rain, wind, ticking). `captions` holds the curated caption
tables, `clips` the clip record and audio conditioning, `build` the orchestration behind
`audiogen data build-open-corpus`.
"""

from audiogen.data.open_corpus.build import SOURCES, build_open_corpus, install_hint

__all__ = ["SOURCES", "build_open_corpus", "install_hint"]

"""Everyday sounds for the captioned corpus: source `everyday` of `build-open-corpus`.

Real recordings of voices, laughter, coughs, footsteps, doors, farm animals, dogs and cats,
rivers, rain, engines and fireworks, from the free game and education packages whose other
recordings make up the codec's recordings set (recordings.py). A file joins only where its
name says what the sound is (0 A.D.'s `singlesteps/fs_gravel3.ogg`, Hedgewars'
`voices/*/Laugh.ogg`, Scratch's `Animal/Dog1.wav`); vague names (`gather_fruit`, `day_*`,
unit "select" voices whose words and speaker the name does not give) are left out. The rules
work like game_sfx's: ordered (glob, sound kind), first match wins, "" leaves a file out.
Men's and women's phrases (0 A.D.'s `civ_male_*`, `civ_female_*`) join the speech classes, where
they take the place of espeak-ng's synthetic voices; most other kinds form the new labels of
`captions.EVERYDAY_CLASSES`, the rest add real recordings to existing classes.

Scratch and tuxpaint-stamps-default also feed source `game`; their tables here claim only
files that `game`'s tables leave out, so no file is in both. `CREDITS` is the one record of
each package's licence and attribution (from /usr/share/doc/PKG/copyright), which the
recordings set shares.
"""

from __future__ import annotations

from dataclasses import replace

from audiogen.data.open_corpus import game_sfx
from audiogen.data.open_corpus.game_sfx import SoundPackage

# Debian package -> (licence, attribution), from /usr/share/doc/PKG/copyright
CREDITS: dict[str, tuple[str, str]] = {
    "0ad-data": ("CC-BY-SA-3.0", "Wildfire Games (0 A.D.)"),
    "hedgewars-data": ("GFDL-1.3", "The Hedgewars project (Andrey Korotaev et al.)"),
    "freedroidrpg-data": ("GPL-2+", "The FreedroidRPG project (Johannes Prix et al.)"),
    "supertuxkart-data": ("GPL-3+", "The SuperTuxKart team"),
    "megaglest-data": ("CC-BY-SA-3.0", "The MegaGlest team"),
    "warmux-data": ("GPL-2+", "The Warmux team"),
    "supertux-data": ("GPL-3+", "The SuperTux team"),
    "extremetuxracer-data": ("GPL-2+", "The Extreme Tux Racer team"),
    "frozen-bubble-data": ("GPL-2", "The Frozen-Bubble team"),
    "tuxpaint-data": ("GPL-2+", "The Tux Paint team"),
}


def _package(name: str, base: str, rules: tuple[tuple[str, str], ...]) -> SoundPackage:
    return SoundPackage(name, base, *CREDITS[name], rules)


ZEROAD = _package("0ad-data", "usr/share/games/0ad/mods/public/public.zip", (
    # people
    ("audio/voice/*/civ/civ_male_*", "man_phrase"),
    ("audio/voice/*/civ/civ_female_*", "woman_phrase"),
    ("audio/actor/human/death/male_death_*", "man_dies"),
    ("audio/actor/human/death/female_death_*", "woman_hurt"),
    ("audio/actor/human/movement/Footsteps/*Grass*", "steps_grass"),
    ("audio/actor/human/movement/Footsteps/*Gravel*", "steps_gravel"),
    ("audio/actor/human/movement/Footsteps/*Sand*", "steps_sand"),
    ("audio/actor/human/movement/Footsteps/*Rock*", "steps_stone"),
    ("audio/actor/human/movement/Footsteps/*Wood*", "steps_wood"),
    ("audio/actor/human/movement/hstep_*dirt*", "steps_dirt"),
    ("audio/actor/singlesteps/fs_grass*", "steps_grass"),
    ("audio/actor/singlesteps/fs_gravel*", "steps_gravel"),
    ("audio/actor/singlesteps/fs_sand*", "steps_sand"),
    ("audio/actor/singlesteps/fs_snow*", "steps_snow"),
    ("audio/actor/singlesteps/fs_wood*", "steps_wood"),
    ("audio/actor/singlesteps/fs_rock*", "steps_stone"),
    ("audio/actor/mounted/movement/mstep*", "horse_walk"),
    # animals
    ("audio/voice/global/civ_dog_*", "dog_bark"),
    ("audio/actor/fauna/animal/pig_*", "pig"),
    ("audio/actor/fauna/animal/elephant_*", "elephant"),
    ("audio/actor/fauna/animal/chicken_*", "hen"),
    ("audio/actor/fauna/animal/cattle_*", "cow"),
    ("audio/actor/fauna/animal/sheep_*", "sheep"),
    ("audio/actor/fauna/death/goat_*", "goat"),
    ("audio/actor/fauna/animal/horse_*", "horse_neigh"),
    ("audio/actor/fauna/death/death_horse_*", "horse_neigh"),
    ("audio/actor/fauna/animal/lion_*", "beast"),
    ("audio/actor/fauna/animal/peacock_*", "peacock"),
    ("audio/actor/fauna/animal/camel_*", "camel"), ("audio/actor/fauna/death/death_camel_*", "camel"),
    # places and weather
    ("audio/actor/gate/stonegate_open_*", "gate_open"),
    ("audio/actor/gate/stonegate_close_*", "gate_close"),
    ("audio/actor/ship/ship_move*", "ship"), ("audio/actor/ship/smove_*", "ship"),
    ("audio/actor/ship/warship_move_*", "ship"),
    ("audio/ambient/building/amb_port_*", "harbour"),
    ("audio/ambient/building/amb_trade_*", "market"),
    ("audio/ambient/building/amb_farm_*", "farmyard"),
    ("audio/ambient/water/river_*", "river"), ("audio/ambient/water/waterfall_*", "waterfall"),
    ("audio/ambient/water/wave*", "surf"),
    ("audio/ambient/weather/rain_*", "rain_real"),
    ("audio/ambient/weather/thunder_*", "thunder"),
    ("audio/ambient/weather/windleaves_*", "leaves_wind"),
    ("audio/ambient/weather/windstorm_*", "strong_wind"),
    ("audio/ambient/weather/snowstorm_*", "strong_wind"),
    ("audio/ambient/weather/wind*", "wind"),
    ("audio/attack/fire/c_*", "fire"), ("audio/attack/fire/sp_*", "fire"),
    ("audio/attack/destruction/building_collapse_*", "rumble"),
    # work
    ("audio/resource/farming/hoe_*", "hoe"),
    ("audio/resource/foraging/leaves_*", "leaves_rustle"),
    ("audio/resource/construction/con_saw_*", "hand_saw"),
    ("audio/resource/lumbering/lumber_tree_[0-9]*", "chop"),
    # weapons
    ("audio/attack/weapon/bow_attack_*", "bow"), ("audio/attack/weapon/arrowfly_*", "bow"),
    ("audio/attack/weapon/swordhit_*", "sword"),
    ("audio/attack/impact/arrow_wood_*", "arrow_wood"),
    ("audio/attack/impact/arrow_stone_*", "arrow_stone"),
    ("audio/attack/impact/arrow_metal_*", "arrow_metal"),
    ("audio/attack/impact/arrow_dirt_*", "arrow_dirt"),
    ("audio/attack/impact/shield_wood_*", "shield_wood"),
    ("audio/attack/impact/shield_metal_*", "shield_metal"),
))

HEDGEWARS = _package("hedgewars-data", "usr/share/games/hedgewars/Data/Sounds", (
    ("voices/*/Laugh.ogg", "laugh"), ("voices/*/PoisonCough.ogg", "cough"),
    ("bee.ogg", "bee"), ("splash.ogg", "splash"), ("explosion.ogg", "explosion"),
    ("shotgunfire.ogg", "gunshot"), ("shutterclick.ogg", "camera_click"),
    ("pickhammer.ogg", "jackhammer"),
))

FREEDROID = _package("freedroidrpg-data", "usr/share/freedroidrpg/data/sound", (
    ("effects/tux_footstep.ogg", "steps"), ("effects/CameraTakesPicture.ogg", "camera_click"),
    ("effects/swing_then_nohit_*", "swish"),
))

SUPERTUXKART = _package("supertuxkart-data", "usr/share/games/supertuxkart/data/sfx", (
    ("car_accel.ogg", "engine_rev"), ("car_revup.ogg", "engine_rev"),
    ("engine_large.ogg", "engine_run"), ("engine_small.ogg", "engine_run"),
    ("skid.ogg", "skid"), ("horn.ogg", "car_horn"), ("fireworks_show.ogg", "fireworks"),
    ("thunder.ogg", "thunder"), ("rain.ogg", "rain_real"), ("river_loop.ogg", "river"),
    ("waterfall_loop_2.ogg", "waterfall"), ("exotic-birds*.ogg", "tropical_bird"),
    ("airplane_jetEngine.ogg", "jet"), ("clock.ogg", "clock_real"),
    ("WilhelmScream.ogg", "man_scream"), ("explosion.ogg", "explosion"),
    ("splash.ogg", "splash"), ("anvil.ogg", "smith"),
))

MEGAGLEST = _package("megaglest-data", "usr/share/games/megaglest", (
    ("techs/megapack/commondata/sounds/pig_*", "pig"),
    ("techs/megapack/factions/norsemen/units/wild_sow/sounds/pig_*", "pig"),
    ("techs/megapack/factions/persian/units/elephant/sounds/ele*", "elephant"),
    ("techs/megapack/factions/egypt/units/chicken/sounds/chicken_*", "hen"),
    ("techs/megapack/commondata/sounds/cow_*", "cow"),
    ("techs/megapack/factions/indian/units/bull/sounds/bull_*", "bull"),
    ("techs/megapack/factions/persian/units/sheep/sounds/sheep*", "sheep"),
    ("techs/megapack/factions/indian/units/beehive/sounds/bee*", "bee"),
    ("techs/megapack/commondata/sounds/anvil*", "smith"),
    ("tilesets/*/sounds/chicken.*", "hen"), ("tilesets/*/sounds/rooster.*", "rooster"),
    ("tilesets/*/sounds/owl.*", "owl"), ("tilesets/*/sounds/hawk.*", "hawk"),
    ("tilesets/*/sounds/wolf.*", "wolf_howl"), ("tilesets/*/sounds/rain.*", "rain_real"),
    ("tilesets/*/sounds/*cow*", "cow"),
))

WARMUX = _package("warmux-data", "usr/share/games/warmux/sound/default", (
    ("weapons/explosion[0-9].ogg", "explosion"), ("weapons/shotgun.ogg", "gunshot"),
    ("weapons/m16.ogg", "gunshot"), ("weapons/airhammer_used.ogg", "jackhammer"),
    ("misc/sink.ogg", "splash"),
))

SUPERTUX = _package("supertux-data", "usr/share/games/supertux2/sounds", (
    ("door.wav", "door"), ("skid.wav", "skid"), ("fireworks.wav", "fireworks"),
    ("firecracker.ogg", "firecracker"), ("thunder.wav", "thunder"),
    ("lightning.wav", "thunder"), ("rain.wav", "rain_real"), ("waterfall.wav", "waterfall"),
    ("ticking.wav", "clock_real"), ("explosion.wav", "explosion"), ("splash.*", "splash"),
))

EXTREMETUXRACER = _package("extremetuxracer-data", "usr/share/games/etr/sounds", (
    ("snow_slide.wav", "slide_snow"), ("ice_slide.wav", "slide_ice"),
    ("grass_slide.wav", "slide_grass"), ("leaves_slide.wav", "slide_leaves"),
    ("mud_slide.wav", "slide_mud"), ("rock_slide.wav", "slide_rock"),
))

FROZEN_BUBBLE = _package("frozen-bubble-data", "usr/share/games/frozen-bubble/snd", (
    ("applause.ogg", "applause"), ("typewriter.ogg", "typewriter"),
))

TUXPAINT_SOUNDS = _package("tuxpaint-data", "usr/share/tuxpaint/sounds", (
    ("giggle.wav", "giggle"),
))

# two packages of source `game`, with rules for files its tables leave out
SCRATCH_EVERYDAY = replace(
    game_sfx.SCRATCH, rules=(
        ("Animal/Dog*.wav", "dog_bark"), ("Animal/Cat.mp3", "meow"),
        ("Animal/Kitten.wav", "meow"), ("Animal/Meow.wav", "meow"),
        ("Human/Laugh-*", "laugh"), ("Human/Cough-*", "cough"),
        ("Human/Footsteps-*", "steps"), ("Effects/DoorClose.mp3", "door"),
        ("Effects/DoorCreak.wav", "door_creak"), ("Effects/Typing.mp3", "typing"),
    ))

TUXPAINT_STAMPS_EVERYDAY = replace(
    game_sfx.TUXPAINT, rules=(
        ("animals/mammals/dogs/dog.ogg", "dog_bark"),
        ("seasonal/halloween/blackcat.ogg", "meow"),
        ("animals/mammals/pig*.ogg", "pig"), ("animals/mammals/elephant.ogg", "elephant"),
        ("animals/mammals/camel/*.ogg", "camel"),
        ("seasonal/newyears/fireworks.ogg", "fireworks"),
        ("hobbies/camera_35mm.ogg", "camera_click"),
    ))

PACKAGES = (ZEROAD, HEDGEWARS, FREEDROID, SUPERTUXKART, MEGAGLEST, WARMUX, SUPERTUX,
            EXTREMETUXRACER, FROZEN_BUBBLE, TUXPAINT_SOUNDS, SCRATCH_EVERYDAY,
            TUXPAINT_STAMPS_EVERYDAY)

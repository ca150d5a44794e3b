#!/usr/bin/env bash
# The default model's recipe, step by step; every step resumes where an interrupted run stopped.
#   bash tools/train_default.sh            # or: make train-default
# Needs the Debian packages of the open corpus and of the codec's recordings (each build step
# prints the apt-get line if any is missing) and about six hours on 2 CPU cores (codec 10250
# steps: about 2 h, measured at 0.68 s a step on one thread; its decoder's 4000 steps: about 1.2 h
# at 1.1 s a step on one thread beside another job; LM 6000 steps: about 2.5 h at 1.1-1.5 s a
# step on 2 cores; judge about 30 min). Work happens in runs/default/ (ignored by git); the
# result is exported to audiogen/assets/default_model/.
set -euo pipefail
cd "$(dirname "$0")/.."
AG=${AUDIOGEN:-.venv/bin/audiogen}
RUN=runs/default
CODEC_STEPS=${CODEC_STEPS:-10250}
DECODER_STEPS=${DECODER_STEPS:-4000}
LM_STEPS=${LM_STEPS:-4000}
LM_EXTEND=${LM_EXTEND:-6000}
CODEC_DATA=corpus/manifest.jsonl,recordings/manifest.jsonl  # both codec steps, by hours
mkdir -p "$RUN"

# 1. the open corpus (deterministic; a rebuild writes identical files), 62 classes, and the
#    uncaptioned recordings the codec also learns from (they leave out every file the corpus
#    takes, and their test split is held out of all training)
[ -f corpus/manifest.jsonl ] || "$AG" data build-open-corpus -o corpus
[ -f recordings/manifest.jsonl ] || "$AG" data build-recordings -o recordings

# 2. the codec: the packaged `small` config (audiogen/configs/codec_small.yaml): small preset
#    with 4 x 1024 codes (2.0 kbps); reconstruction losses only, which beat the adversarial
#    ones at equal CPU time; the corpus's train split and the recordings, each in proportion
#    to its hours. (The shipped codec learned from nearly the same audio arranged otherwise,
#    so that it heard some of the corpus's test clips: docs/model_card.md.) An exported codec
#    (RUN/codec/model, written when its run ends) is kept: the LM's codes are its codes.
[ -f "$RUN/codec/model/codec.safetensors" ] ||
  "$AG" train codec --config small --data "$CODEC_DATA" \
    -o "$RUN/codec" --steps "$CODEC_STEPS" --no-progress num_threads=2

# 2b. its decoder alone, fine-tuned with a learning rate that decays (the constant rate above
#    had stopped gaining): encoder and codebooks frozen, so the codes, and with them all the
#    LM learns from, stay exactly the same; cosine from 3e-4 to 0 after 100 warm-up steps
[ -f "$RUN/codec_decoder/model/codec.safetensors" ] ||
  "$AG" train codec --config small --data "$CODEC_DATA" \
    -o "$RUN/codec_decoder" --steps "$DECODER_STEPS" --no-progress num_threads=2 \
    init_from="$RUN/codec/model" train_decoder_only=true schedule=cosine warmup_steps=100

# 3. the LM on audio with the mixing augmentation (encoded by the codec on the fly), in two
#    phases: a cosine schedule over LM_STEPS, then the same run resumed with steps=LM_EXTEND,
#    which stretches what is left of the cosine (the rate goes back up from 1e-4 to about 3.3e-4
#    at step 4000 and decays again). The shipped weights are this two-phase run's. A phase the
#    run is already past is skipped: the trainer would resume, train nothing and export its
#    newest weights, putting a half-done phase 2's weights over the assets.
newest_lm_step() {  # newest checkpoint step of the LM run (0 if none)
  local last; last=$(ls "$RUN/lm/checkpoints" 2>/dev/null | grep -E "^step_[0-9]+$" | sort | tail -n 1 || true)
  if [ -n "$last" ]; then echo $((10#${last#step_})); else echo 0; fi
}
for steps in "$LM_STEPS" "$LM_EXTEND"; do
  [ "$(newest_lm_step)" -ge "$steps" ] && continue
  "$AG" train lm --config small -o "$RUN/lm" --export audiogen/assets/default_model \
    --no-progress manifest=corpus/manifest.jsonl codec="$RUN/codec_decoder/model" \
    steps="$steps" num_threads=2 checkpoint_every=100 keep_checkpoints=30
done

# 4. the judge that scores generations: the corpus labels, on real audio and on the
#    fine-tuned decoder's reconstructions (about 30 min on one thread)
"$AG" train judge --corpus corpus/manifest.jsonl -o audiogen/assets/judge \
  --codec "$RUN/codec_decoder/model" --threads 1

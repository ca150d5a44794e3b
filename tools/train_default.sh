#!/usr/bin/env bash
# The default model's recipe, step by step; every step resumes where an interrupted run stopped.
#   bash tools/train_default.sh            # or: make train-default
# Needs the open corpus's Debian packages (the build step prints the apt-get line if any is
# missing) and about three and a half hours on 2 idle CPU cores (codec 1500 steps: 16 min; LM 4000 + 2500 steps:
# 103 + 61 min at 1.54-1.46 s a step; judge 16 min; all measured). Work happens in runs/default/ (ignored by git);
# the result is exported to audiogen/assets/default_model/.
set -euo pipefail
cd "$(dirname "$0")/.."
AG=${AUDIOGEN:-.venv/bin/audiogen}
RUN=runs/default
CODEC_STEPS=${CODEC_STEPS:-1500}
LM_STEPS=${LM_STEPS:-4000}
LM_EXTEND=${LM_EXTEND:-6500}
mkdir -p "$RUN"

# 1. the open corpus (deterministic; a rebuild writes identical files)
[ -f corpus/manifest.jsonl ] || "$AG" data build-open-corpus -o corpus

# 2. the codec: the packaged `small` config (audiogen/configs/codec_small.yaml): small preset
#    with 4 x 512 codes; reconstruction losses only (the adversarial ones cost ~20 s a step on
#    this CPU); init_gain lifts the reference init's long plateau.
"$AG" train codec --config small --data corpus/manifest.jsonl -o "$RUN/codec" \
  --steps "$CODEC_STEPS" --no-progress num_threads=2

# 3. the LM on audio with the mixing augmentation (encoded by the codec on the fly), in two
#    phases: a cosine schedule over LM_STEPS, then the same run resumed with steps=LM_EXTEND,
#    which stretches what is left of the cosine (the rate goes back up from 1e-4 to about 4e-4
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
    --no-progress manifest=corpus/manifest.jsonl codec="$RUN/codec/model" lm.card=512 \
    steps="$steps" num_threads=2 checkpoint_every=100 keep_checkpoints=30
done

# 4. the judge that scores generations: the corpus labels, on real audio and on this codec's
#    reconstructions (about 16 min on one thread)
"$AG" train judge --corpus corpus/manifest.jsonl -o audiogen/assets/judge \
  --codec "$RUN/codec/model" --threads 1

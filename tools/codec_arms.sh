#!/usr/bin/env bash
# The codec training comparison at equal CPU time (docs/training.md, "Adversarial training on
# a CPU"): arms in the background, one thread each, niced, under runs/codec_cmp/.
#   bash tools/codec_arms.sh                  # start (or resume) every arm; they run until stopped
#   bash tools/codec_arms.sh recon dec_recon  # only these arms
#   .venv/bin/python tools/codec_compare.py --budget CPU_S runs/codec_cmp/recon \
#       runs/codec_cmp/adv_light runs/codec_cmp/dec_adv --baseline audiogen/assets/default_model
# Arms start from scratch on a fresh machine (recon_adv needs RECON_INIT=a recon checkpoint).
# recon ran to step 10250 (7000 CPU s): the default model's codec.
set -euo pipefail
cd "$(dirname "$0")/.."
AG=${AUDIOGEN:-.venv/bin/audiogen}
OUT=runs/codec_cmp
mkdir -p "$OUT"
[ -f corpus-40/manifest.jsonl ] || "$AG" data build-open-corpus -o corpus-40 \
  --sources game,midi,speech,procedural  # the 40-class corpus (without everyday)
[ -f recordings/manifest.jsonl ] || "$AG" data build-recordings -o recordings
DATA=corpus-40/manifest.jsonl,recordings/manifest.jsonl
COMMON=(batch_size=16 lr=3e-4 num_threads=1 checkpoint_every=250 keep_checkpoints=40
        validate_every=250 log_every=25 steps=20000)
SMALL=(init_gain=1.732 codec.bins=1024 codec.threshold_ema_dead_code=0.2)
LIGHT_D=(disc_filters=8 'disc_n_ffts=[1024,512,256]')
run_arm() {  # NAME OPTIONS...: one arm in the background, logging to $OUT/NAME.log
  local name=$1; shift
  nice -n 10 "$AG" train codec --data "$DATA" -o "$OUT/$name" --no-progress "${COMMON[@]}" "$@" \
    > "$OUT/$name.log" 2>&1 &
}
ARMS=("$@"); [ ${#ARMS[@]} -gt 0 ] || ARMS=(recon adv_light dec_adv dec_recon vocos recon_adv recon2048)
for arm in "${ARMS[@]}"; do
  case $arm in
    # reconstruction losses only, from scratch (the default model's codec recipe, run longer)
    recon) run_arm recon "${SMALL[@]}" loss_weights.adv=0 loss_weights.feat=0 ;;
    # adversarial with a lighter MS-STFT discriminator (8 filters, 3 scales), from scratch
    adv_light) run_arm adv_light "${SMALL[@]}" "${LIGHT_D[@]}" adv_warmup_steps=500 ;;
    # the shipped codec's decoder alone, adversarial (its codes, so the shipped LM, stay valid)
    dec_adv) run_arm dec_adv init_from=audiogen/assets/default_model train_decoder_only=true \
      "${LIGHT_D[@]}" adv_warmup_steps=300 ;;
    # the shipped codec's decoder alone, reconstruction losses only, on the broad data
    dec_recon) run_arm dec_recon init_from=audiogen/assets/default_model train_decoder_only=true \
      loss_weights.adv=0 loss_weights.feat=0 ;;
    # the shipped codec's encoder and codebooks frozen, a new Vocos iSTFT decoder (dim 256,
    # about 3.7M parameters), reconstruction losses only: the shipped codes stay valid
    vocos) run_arm vocos init_from=audiogen/assets/default_model train_decoder_only=true \
      loss_weights.adv=0 loss_weights.feat=0 codec.decoder=vocos \
      'codec.vocos={"dim": 256, "intermediate": 768, "layers": 8, "n_fft": 1280}' ;;
    # adversarial fine-tuning of the recon arm's codec at step 3000 (light discriminator,
    # trained alone for its first 500 steps): do adversarial losses help a trained codec?
    recon_adv) run_arm recon_adv "${SMALL[@]}" "${LIGHT_D[@]}" adv_warmup_steps=500 \
      init_from=${RECON_INIT:-runs/codec_cmp/recon/checkpoints/step_00003000} ;;
    # recon with the paper's 4 x 2048 codes (2.2 kbps) instead of 4 x 1024
    recon2048) run_arm recon2048 init_gain=1.732 codec.bins=2048 \
      codec.threshold_ema_dead_code=0.2 loss_weights.adv=0 loss_weights.feat=0 ;;
    *) echo "unknown arm: $arm (recon, adv_light, dec_adv, dec_recon, vocos, recon_adv, recon2048)" >&2; exit 2 ;;
  esac
done
wait

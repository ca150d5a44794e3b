"""Conversion of the reference's (audiocraft's) released checkpoints into native models:
`checkpoint` reads the files safely, `codec` and `lm` map each model's config and weights."""

"""Training: generic pieces (distributed helpers, checkpoints, metrics) and the trainers."""

"""Training: generic pieces (checkpoints, metrics, schedules) and the trainers."""

"""Run by tests/test_codec_train_ddp.py under torchrun: a few tiny codec training steps, then
each rank saves its weights and buffers so the test can compare the ranks."""

import sys
from pathlib import Path

import torch

from audiogen import distributed
from audiogen.train.codec_trainer import CodecTrainConfig, CodecTrainer

TINY = {"n_filters": 4, "ratios": [4, 2], "dimension": 8, "lstm_layers": 0, "n_q": 2, "bins": 16}

if __name__ == "__main__":
    data, run_dir = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    config = CodecTrainConfig(data=data, codec=TINY, disc_filters=4, batch_size=4,
                              segment_seconds=0.25, steps=3, valid_clips=2, validate_every=3,
                              checkpoint_every=3, log_every=1, device="cpu", seed=5)
    trainer = CodecTrainer(config, run_dir)
    trainer.train(show_progress=False)
    state = {f"codec.{k}": v for k, v in trainer.codec.state_dict().items()}
    state.update({f"disc.{k}": v for k, v in trainer.disc.state_dict().items()})
    torch.save({"state": state, "world": distributed.world_size(),
                "local_batch": trainer.local_batch}, run_dir / f"rank{distributed.rank()}.pt")
    distributed.close()

"""Generic training utilities: checkpoint manager, metrics logger, key=value overrides, loop
cadence."""

import json
from dataclasses import dataclass, field

import pytest
import torch

from audiogen.errors import AudiogenError, DamagedFileError
from audiogen.model_dir import read_weights
from audiogen.seeding import derive_seed, host_uniform
from audiogen.train.checkpoint import (
    CheckpointManager,
    load_state,
    resume,
    save_state,
    save_weights,
)
from audiogen.train.loop import due, end_step
from audiogen.train.metrics import MetricsLogger, read_metrics
from audiogen.train.overrides import apply_overrides, config_to_dict


def _write_marker(text):
    def write(directory):
        (directory / "marker.txt").write_text(text)
    return write


def test_checkpoint_manager_keeps_last_k_and_finds_latest(tmp_path):
    manager = CheckpointManager(tmp_path / "ckpt", keep=2)
    assert manager.latest() is None
    for step in (5, 10, 15):
        path = manager.save(step, _write_marker(str(step)))
        assert path.name == f"step_{step:08d}"
    assert manager.steps() == [10, 15]
    assert (manager.latest() / "marker.txt").read_text() == "15"
    manager.save(15, _write_marker("again"))  # same step: replaced
    assert (manager.latest() / "marker.txt").read_text() == "again"
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["step_00000010",
                                                                     "step_00000015"]


def test_checkpoint_interrupted_save_leaves_nothing(tmp_path):
    manager = CheckpointManager(tmp_path, keep=3)
    manager.save(1, _write_marker("one"))

    def failing(directory):
        (directory / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        manager.save(2, failing)
    assert manager.steps() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000001"]  # no temporary left


def test_weights_and_state_round_trip_bit_exact(tmp_path):
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    module(torch.randn(8, 4))  # update the running stats (buffers)
    save_weights(tmp_path / "w.safetensors", module)
    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    other.load_state_dict(read_weights(tmp_path / "w.safetensors"), strict=True)
    for (k, a), (_, b) in zip(module.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), k

    opt = torch.optim.Adam(module.parameters(), lr=1e-3, betas=(0.5, 0.9))
    module(torch.randn(8, 4)).sum().backward()
    opt.step()
    save_state(tmp_path / "s.pt", {"opt": opt.state_dict(), "step": 7, "ema": {"a": 0.5}})
    state = load_state(tmp_path / "s.pt")
    assert state["step"] == 7 and state["ema"] == {"a": 0.5}
    assert torch.equal(state["opt"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_damaged_weights_and_state_are_named(tmp_path):
    save_weights(tmp_path / "w.safetensors", torch.nn.Linear(4, 3))
    save_state(tmp_path / "s.pt", {"step": 7})
    for name in ("w.safetensors", "s.pt"):
        (tmp_path / name).write_bytes((tmp_path / name).read_bytes()[:40])
    with pytest.raises(DamagedFileError, match="w.safetensors: damaged"):
        read_weights(tmp_path / "w.safetensors")
    with pytest.raises(DamagedFileError, match="s.pt: damaged"):
        load_state(tmp_path / "s.pt")


def test_stale_temporaries_are_removed_and_a_half_replaced_step_restored(tmp_path):
    manager = CheckpointManager(tmp_path, keep=3)
    manager.save(1, _write_marker("one"))
    (tmp_path / ".step_00000002.k3j_x9").mkdir()  # killed while writing step 2
    (tmp_path / ".step_00000002.k3j_x9" / "train_state.pt").write_bytes(b"half")
    old = tmp_path / ".old_00000003.ab12"  # killed between the two renames of a replace
    (old / "step_00000003").mkdir(parents=True)
    (old / "step_00000003" / "marker.txt").write_text("three")
    (tmp_path / ".keep_me").mkdir()  # not the manager's: left alone
    removed = manager.clean_stale()
    assert sorted(p.name for p in removed) == [".old_00000003.ab12", ".step_00000002.k3j_x9"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep_me", "step_00000001",
                                                           "step_00000003"]
    assert (tmp_path / "step_00000003" / "marker.txt").read_text() == "three"


def test_resume_falls_back_past_damaged_checkpoints(tmp_path):
    manager = CheckpointManager(tmp_path, keep=3)
    for step in (1, 2, 3):
        manager.save(step, _write_marker(str(step)))
    loaded, notes = [], []

    def load(directory):
        if directory.name != "step_00000001":
            raise DamagedFileError(f"{directory}/train_state.pt: damaged")
        loaded.append(directory.name)

    assert resume(manager, load, notes.append) == manager.path(1)
    assert loaded == ["step_00000001"]
    assert "step_00000003 is damaged" in notes[0] and "step_00000002 is damaged" in notes[1]
    assert "instead of the damaged step_00000003, step_00000002" in notes[2]
    with pytest.raises(AudiogenError, match="every checkpoint is damaged"):
        resume(manager, lambda d: load(tmp_path / "x"), notes.append)
    assert resume(CheckpointManager(tmp_path / "none"), load, notes.append) is None


def test_resumed_metrics_drop_records_past_the_resumed_step(tmp_path):
    logger = MetricsLogger(tmp_path / "m.jsonl", total_steps=6, show_progress=False)
    for step in (1, 2, 3, 4):
        logger.log("train", step, {"loss": float(step)})
    logger.close()
    with open(tmp_path / "m.jsonl", "a") as f:
        f.write('{"split": "train", "st')  # a line cut short by a kill
    logger = MetricsLogger(tmp_path / "m.jsonl", total_steps=6, initial_step=2,
                           show_progress=False)
    logger.log("train", 3, {"loss": 30.0})
    logger.close()
    lines = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [(r["step"], r["loss"]) for r in lines] == [(1, 1.0), (2, 2.0), (3, 30.0)]


def test_metrics_logger_writes_json_lines(tmp_path):
    logger = MetricsLogger(tmp_path / "m.jsonl", total_steps=3, show_progress=False)
    logger.log("train", 1, {"g/mel": torch.tensor(2.5), "step_time_s": 0.25})
    logger.log("train", 2, {"g/mel": float("nan")})
    logger.log("train", 2, {"g/mel": 1.0})  # a resumed run repeats a step: last one wins
    logger.close()
    lines = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert lines[0]["g/mel"] == 2.5 and lines[0]["step"] == 1 and "time_s" in lines[0]
    assert lines[1]["g/mel"] == "nan"
    rows = read_metrics(tmp_path / "m.jsonl", split="train")
    assert [r["step"] for r in rows] == [1, 2] and rows[1]["g/mel"] == 1.0


@dataclass
class _Config:
    lr: float = 3e-4
    steps: int = 10
    name: str = "run"
    betas: tuple[float, float] = (0.5, 0.9)
    weights: dict[str, float] = field(default_factory=lambda: {"mel": 2.0})
    flag: bool = False


def test_overrides_types_and_errors():
    c = apply_overrides(_Config(), ["lr=1e-3", "steps=20", "name=123", "betas=[0.8, 0.99]",
                                    "weights.adv=4", "flag=true"])
    assert c == _Config(lr=1e-3, steps=20, name="123", betas=(0.8, 0.99),
                        weights={"mel": 2.0, "adv": 4}, flag=True)
    assert isinstance(c.weights["adv"], int) or c.weights["adv"] == 4
    assert config_to_dict(c)["betas"] == [0.8, 0.99]
    for bad in (["nope=1"], ["steps=1.5"], ["lr=fast"], ["flag=1"], ["steps"], ["lr.x=1"]):
        with pytest.raises(AudiogenError):
            apply_overrides(_Config(), bad)


def test_periodic_actions_run_every_n_steps_and_at_the_end():
    assert [s for s in range(1, 8) if due(s, 3, last=s == 7)] == [3, 6, 7]
    assert not any(due(s, 0, last=s == 7) for s in range(1, 8))  # 0: off, even at the end
    assert (end_step(100, 0), end_step(100, 40), end_step(100, 400)) == (100, 40, 100)


def test_host_uniform_is_torch_rand_from_the_same_seed():
    """Drawn without a tensor, the number torch drew before: earlier runs keep their numbers."""
    for step in range(2000):
        seed = derive_seed(3, "disc", step)
        expected = torch.rand((), generator=torch.Generator().manual_seed(seed)).item()
        assert host_uniform(3, "disc", step) == expected

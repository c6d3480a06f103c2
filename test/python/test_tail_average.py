"""export --average-from: the mean of the run's weight snapshots in the tail and its final weights."""
import os

import pytest
import torch

from scripts.train.export import tail_average


def test_tail_average_takes_the_tail_and_the_final_weights(tmp_path):
    d = tmp_path / "snapshots"
    d.mkdir()
    for step, v in ((100, 100.0), (200, 1.0), (300, 2.0)):
        torch.save({"step": step, "model": {"w": torch.full((2, 3), v), "b": torch.full((3,), -v)}}, d / f"{step:06d}.pt")
    final = {"w": torch.full((2, 3), 6.0), "b": torch.full((3,), -6.0)}
    avg, steps = tail_average(str(tmp_path), 400, final, 200)
    assert steps == [200, 300, 400]                  # step 100 is before the tail
    assert torch.equal(avg["w"], torch.full((2, 3), 3.0)) and torch.equal(avg["b"], torch.full((3,), -3.0))
    assert avg["w"].dtype == torch.float32


def test_tail_average_refuses_a_tail_without_snapshots_or_with_other_tensors(tmp_path):
    os.makedirs(tmp_path / "snapshots")
    with pytest.raises(SystemExit, match="no weight snapshots"):
        tail_average(str(tmp_path), 400, {"w": torch.zeros(1)}, 200)
    torch.save({"step": 300, "model": {"v": torch.zeros(1)}}, tmp_path / "snapshots" / "000300.pt")
    with pytest.raises(SystemExit, match="000300.pt: its tensors differ"):
        tail_average(str(tmp_path), 400, {"w": torch.zeros(1)}, 200)

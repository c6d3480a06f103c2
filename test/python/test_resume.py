"""A training run on a user's own text (--text) stops, and a fresh run directory on "another machine"
resumes from the committed compact state (--state): steps continue, and the segments add up."""
import json
import os
import subprocess
import sys

import torch

from conftest import ROOT


def run(args, cwd):
    return subprocess.run([sys.executable, "-m", "scripts.train.train", *args, "--threads", "1"], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_resume_from_committed_state_on_another_machine(tmp_path):
    text = tmp_path / "text"
    text.mkdir()
    for k in range(60):
        (text / f"{k}.txt").write_text(f"Document {k}: the cat sat on the mat, and the dog sat on log {k}. " * 20)
    cfg = tmp_path / "micro.json"
    cfg.write_text(json.dumps({"extends": "tiny", "train": {
        "entropy_steps": 4, "max_steps": 6, "batch_size": 2, "seq_len": 64, "entropy_batch_size": 2,
        "eval_every": 3, "eval_windows": 2, "log_every": 1, "warmup_steps": 2, "checkpoint_seconds": 0,
        "snapshot_from_step": 4, "snapshot_every": 1}}))
    state = tmp_path / "state"
    first = run(["--config", str(cfg), "--run", str(tmp_path / "a"), "--text", str(text), "--state", str(state),
                 "--max-steps", "3"], ROOT)
    assert first.returncode == 0, first.stderr[-2000:]
    saved = torch.load(state / "ckpt.pt")
    assert saved["progress"]["step"] == 3
    moments = [t for s in saved["optimizer"]["state"].values() for t in s.values() if torch.is_tensor(t) and t.dim() > 0]
    assert moments and all(t.dtype == torch.bfloat16 for t in moments)      # the compact form
    # another machine: no run directory, only the committed state
    second = run(["--config", str(cfg), "--run", str(tmp_path / "b"), "--text", str(text), "--state", str(state),
                  "--max-steps", "6"], ROOT)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming from the committed state" in second.stdout
    done = torch.load(tmp_path / "b" / "ckpt.pt")
    p = done["progress"]
    assert p["step"] == 6
    assert [(s["from_step"], s["to_step"]) for s in p["segments"]] == [(0, 3), (3, 6)]
    assert abs(sum(s["seconds"] for s in p["segments"]) - p["train_seconds"]) < 0.5
    assert os.path.exists(tmp_path / "b" / "data" / "manifest.json")
    # each segment records the settings it ran with; the tail's weights are kept for export --average-from
    assert [s["settings"]["max_steps"] for s in p["segments"]] == [3, 6]
    assert sorted(os.listdir(tmp_path / "b" / "snapshots")) == ["000004.pt", "000005.pt", "000006.pt"]
    last = torch.load(tmp_path / "b" / "snapshots" / "000006.pt")
    assert last["step"] == 6 and all(torch.equal(last["model"][k], v) for k, v in done["model"].items())

"""Shared fixtures for the Python tests of scripts/train (run: /usr/bin/python3 -m pytest test/python -q)."""
import contextlib
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

torch.set_num_threads(2)


def tiny_config(threshold=2.0):
    """The tiny model config with a fixed threshold (no calibration in tests)."""
    with open(os.path.join(ROOT, "scripts", "train", "configs", "tiny.json")) as f:
        cfg = json.load(f)["model"]
    cfg["patching"]["threshold"] = threshold
    return cfg


@pytest.fixture
def cfg():
    return tiny_config()


def contrasted_model(cfg):
    """A random BLT whose matrices are scaled up: random init gives near-zero attention contrast, so leaks
    would not show."""
    from scripts.train.model import BLT
    torch.manual_seed(0)
    m = BLT(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.mul_(5.0)
    return m


@pytest.fixture
def model(cfg):
    return contrasted_model(cfg)


@contextlib.contextmanager
def pool_worker(*args):
    """A PyTorch pool worker (scripts/pool/worker.py) on a free loopback port: yields (port, its ready line)."""
    proc = subprocess.Popen([sys.executable, "-m", "scripts.pool.worker", "--port", "0", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()          # printed once the worker is ready to serve
        assert line.startswith("pool worker listening on http://127.0.0.1:"), line
        yield int(line.split("http://127.0.0.1:")[1].split()[0]), line
    finally:
        proc.terminate()
        proc.wait(timeout=10)

"""A few training steps of the tiny model reduce the BLT-D loss (both terms)."""
import numpy as np
import torch

from scripts.train.model import BLT
from scripts.train.objective import bltd_loss, sample_windows
from scripts.train.train import make_optimizer


def test_tiny_model_loss_falls(cfg):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    text = (b"the cat sat on the mat. the dog sat on the log. " * 200)
    data = np.frombuffer(text, dtype=np.uint8)
    model = BLT(cfg)
    params = [(n, p) for n, p in model.named_parameters() if not n.startswith("entropy_model.")]
    opt = make_optimizer(params, 3e-3, 0.1)
    losses = []
    for step in range(30):
        tok, tgt = sample_windows(data, 4, 64, rng)
        loss, stats = bltd_loss(model, tok, tgt, model.patch(tok), rng, diffusion=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append((stats["ar"], stats["diff"]))
    first, last = np.mean(losses[:5], 0), np.mean(losses[-5:], 0)
    assert last[0] < first[0] - 1.0, (first, last)
    assert last[1] < first[1] - 0.5, (first, last)


def test_diffusion_weight_scales_only_the_diffusion_term(cfg):
    torch.manual_seed(0)
    data = np.frombuffer(b"the cat sat on the mat. the dog sat on the log. " * 50, dtype=np.uint8)
    model = BLT(cfg)
    tok, tgt = sample_windows(data, 2, 64, np.random.default_rng(1))
    out = {}
    for w in (1.0, 0.3):
        rng = np.random.default_rng(2)  # the same noisy blocks for both weights
        loss, stats = bltd_loss(model, tok, tgt, model.patch(tok), rng, diffusion=True, diffusion_weight=w)
        out[w] = (loss.item(), stats)
    (l1, s1), (l3, s3) = out[1.0], out[0.3]
    assert abs(s1["diff"] - s3["diff"]) < 1e-6 and abs(s1["ar"] - s3["ar"]) < 1e-6
    assert abs(l1 - (s1["ar"] + s1["diff"])) < 1e-4
    assert abs(l3 - (s3["ar"] + 0.3 * s3["diff"])) < 1e-4
    assert l1 - l3 > 0.5 * s1["diff"]

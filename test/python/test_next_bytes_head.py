"""The training-only next-bytes head: latent j is asked for the bytes right after patch j (never bytes it
pooled), and its loss reaches the global model."""
import torch

from scripts.train.model import BLT, BOS_ID, Patches
from scripts.train.objective import IGNORE, NextBytesHead


def test_targets_are_the_bytes_after_each_patch(cfg):
    L = 20
    tok = torch.arange(L)[None] + 10
    tok[0, 0] = BOS_ID
    tgt = torch.cat([tok[:, 1:], torch.tensor([[99]])], 1)       # targets[p-1] = byte at position p
    is_start = torch.zeros(1, L, dtype=torch.bool)
    is_start[0, [0, 1, 5, 9, 17]] = True
    patches = Patches(is_start)
    head = NextBytesHead(8, 3)
    seen = {}

    def capture(logits, want, ignore_index):
        seen["want"] = want.view(1, -1, 3)
        return torch.tensor(0.0)
    orig = torch.nn.functional.cross_entropy
    torch.nn.functional.cross_entropy = capture
    try:
        head.loss(torch.zeros(1, 5, 8), patches, tok, tgt)
    finally:
        torch.nn.functional.cross_entropy = orig
    want = seen["want"][0].tolist()
    assert want[0] == [11, 12, 13]            # after BOS: positions 1, 2, 3
    assert want[1] == [15, 16, 17]            # patch 1 = positions 1..4, so positions 5..7 follow
    assert want[3] == [27, 28, 29]            # patch 3 = 9..16, then 17, 18, 19
    assert want[4] == [IGNORE] * 3            # the last patch: what follows is not in the window


def test_its_loss_reaches_the_global_model(cfg):
    torch.manual_seed(0)
    model = BLT(cfg)
    tok = torch.randint(0, 256, (2, 64))
    tok[:, 0] = BOS_ID
    tgt = torch.randint(0, 256, (2, 64))
    out = model(tok, model.patch(tok))
    head = NextBytesHead(cfg["global"]["dim"], 4)
    head.loss(out["latents"], out["patches"], tok, tgt).backward()
    g = model.global_transformer.layers[0].attn.wq.weight.grad
    assert g is not None and g.abs().sum() > 0
    assert model.local_decoder.head.weight.grad is None        # the decoder is not involved

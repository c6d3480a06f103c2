"""Training-only patch-bounded rows (model.segments_for, train.patch_bound_fraction): in a bounded sequence
every byte's local attention sees only its own patch, so the bytes before a patch reach its decoder rows
through the latents (and the hashed n-grams) alone; the other sequences of the batch, and inference, are
untouched."""
import copy

import torch

from conftest import contrasted_model
from scripts.train.model import BOS_ID, attend, causal_window_mask, local_attend

L = 48
STARTS = [0, 1, 6, 9, 15, 18, 24, 30, 33, 40, 45]


def starts(b):
    s = torch.zeros(b, L + 1, dtype=torch.bool)
    s[:, STARTS] = True
    return s


def tokens(b, seed=1):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, 256, (b, L), generator=g)
    t[:, 0] = BOS_ID
    return t


def test_segmented_local_attention_equals_the_explicit_mask():
    torch.manual_seed(0)
    b, h, n, hd, w = 2, 2, 150, 8, 8
    q, k, v = (torch.randn(b, h, n, hd) for _ in range(3))
    is_start = torch.rand(b, n) < 0.3
    is_start[:, 0] = True
    seg = torch.stack([is_start[0].long().cumsum(0), torch.full((n,), -1)])
    mask = causal_window_mask(n, w, "cpu").expand(b, n, n) & (seg[:, :, None] == seg[:, None, :])
    assert torch.allclose(local_attend(q, k, v, w, seg=seg), attend(q, k, v, mask), atol=1e-5)
    # a sequence whose segment is one value everywhere is plain windowed attention
    assert torch.equal(local_attend(q, k, v, w, seg=seg)[1], local_attend(q, k, v, w)[1])


def test_bounded_sequences_only_and_no_bound_is_the_plain_model(cfg):
    cfg = copy.deepcopy(cfg)
    cfg["local"]["decoder_latents"] = "one"
    m = contrasted_model(cfg)
    t, s = tokens(2), starts(2)
    with torch.no_grad():
        plain = m(t, s)["logits"]
        none = m(t, s, bound=torch.tensor([False, False]))["logits"]
        mixed = m(t, s, bound=torch.tensor([False, True]))["logits"]
    assert torch.equal(plain, none)
    assert torch.equal(mixed[0], plain[0])                 # the unbounded sequence is untouched
    assert not torch.allclose(mixed[1], plain[1])          # the bounded one is not


def test_a_bounded_row_sees_the_earlier_patches_only_through_the_latents(cfg):
    """With the latents held fixed and no n-gram embeddings, changing a byte of an earlier patch changes no
    logits of a bounded row in a later patch (inside the local window); unbounded, it does."""
    cfg = copy.deepcopy(cfg)
    cfg["local"]["decoder_latents"] = "one"
    m = contrasted_model(cfg)
    with torch.no_grad():
        for e in m.local_encoder.ngram_emb.values():
            e.weight.zero_()
    t, s = tokens(1), starts(1)
    t2 = t.clone()
    t2[0, 16] = (t[0, 16] + 1) % 256                        # a byte of patch [15, 18)
    fixed = m(t, s)["latents"]
    hold = lambda _: fixed                                   # noqa: E731 -- the latents of the original text
    rows = slice(18, 24)                                     # the next patch, all within 8 bytes of byte 16
    with torch.no_grad():
        a = m(t, s, latent_hook=hold, bound=torch.tensor([True]))["logits"][0, rows]
        b = m(t2, s, latent_hook=hold, bound=torch.tensor([True]))["logits"][0, rows]
        c = m(t, s, latent_hook=hold)["logits"][0, rows]
        d = m(t2, s, latent_hook=hold)["logits"][0, rows]
    assert torch.equal(a, b)
    assert not torch.allclose(c, d)

"""The attention rules of docs/design.md section 2, checked on the masks and end to end, including
the three leaks: (1) a block seeing the clean copy of its own bytes, (2) a byte reading the latent
of its own patch, (3) a position whose target is never supervised."""
import numpy as np
import torch

from scripts.train.model import (BOS_ID, MASK_ID, NoisyBlocks, Patches, attend, causal_window_mask,
                                 decoder_masks, local_attend)
from scripts.train.objective import IGNORE, sample_blocks, windows_at

L = 40


def fixed_patches(b=2):
    is_start = torch.zeros(b, L, dtype=torch.bool)
    is_start[:, [0, 1, 5, 9, 12, 17, 20, 24, 30, 33, 38]] = True
    return is_start


def two_blocks(block_size=8, starts=(9, 17), patches=(3, 5)):
    n = 2 * block_size
    tok = torch.full((1, n), MASK_ID)
    pos = torch.cat([torch.arange(s, s + block_size) for s in starts])[None]
    blk = torch.arange(2).repeat_interleave(block_size)[None]
    st = torch.tensor(starts).repeat_interleave(block_size)[None]
    pat = torch.tensor(patches).repeat_interleave(block_size)[None]
    return NoisyBlocks(tok, pos, blk, st, pat)


def tokens(b=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, 256, (b, L), generator=g)
    t[:, 0] = BOS_ID
    return t


def test_mask_rules():
    is_start = fixed_patches(1)
    ids = Patches(is_start).ids
    blocks = two_blocks()
    window = 16
    pos, self_m, cross_m, _ = decoder_masks(ids, 11, window, blocks)
    self_m, cross_m = self_m[0], cross_m[0]
    # Clean rows: windowed causal over clean keys, never a noisy key.
    assert torch.equal(self_m[:L, :L], causal_window_mask(L, window, "cpu")[0])
    assert not self_m[:L, L:].any()
    for r in range(16):
        s, blk = (9, 0) if r < 8 else (17, 1)
        row = self_m[L + r]
        p = s + r % 8
        vis_clean = row[:L].nonzero().flatten().tolist()
        assert vis_clean == [j for j in range(L) if j < s and p - j < window], "clean prefix only (leak 1)"
        vis_noisy = row[L:].nonzero().flatten().tolist()
        assert vis_noisy == list(range(blk * 8, blk * 8 + 8)), "itself, both directions, no other block"
    # Cross-attention: a byte of patch p sees latents 0..p-1 only (leak 2); BOS sees none.
    for i in range(L):
        assert cross_m[i].nonzero().flatten().tolist() == list(range(int(ids[0, i])))
    assert cross_m[L].nonzero().flatten().tolist() == [0, 1, 2]        # block at patch 3
    assert cross_m[L + 8].nonzero().flatten().tolist() == [0, 1, 2, 3, 4]


def test_local_attention_equals_the_dense_mask():
    torch.manual_seed(0)
    for n, window in ((L, 16), (130, 128), (7, 3)):
        q, k, v = (torch.randn(2, 2, n, 8) for _ in range(3))
        dense = attend(q, k, v, causal_window_mask(n, window, "cpu").expand(2, n, n))
        assert torch.allclose(local_attend(q, k, v, window), dense, atol=1e-5)


def test_block_never_sees_its_own_clean_bytes_or_later_blocks(model):
    """Leak 1: block logits are unchanged when bytes at or after the block start change, or
    when another block's input changes; they equal the logits with only the prefix present."""
    tok, is_start, blocks = tokens(), fixed_patches(1), two_blocks()
    base = model(tok, is_start, blocks)["noisy_logits"]
    other = tok.clone()
    other[0, 9:] = (other[0, 9:] + 77) % 256
    changed = model(other, is_start, blocks)["noisy_logits"]
    assert torch.allclose(base[:, :8], changed[:, :8], atol=1e-5), "block at 9 saw bytes >= 9"
    assert not torch.allclose(base[:, 8:], changed[:, 8:], atol=1e-3), "block at 17 must see bytes 9..16"
    # The other block's noisy input does not reach this one.
    b2 = two_blocks()
    b2.tokens[0, 8:] = torch.arange(8) + 65
    moved = model(tok, is_start, b2)["noisy_logits"]
    assert torch.allclose(base[:, :8], moved[:, :8], atol=1e-5)
    # Same logits as an inference-style call that holds only the clean prefix.
    solo = NoisyBlocks(*(getattr(blocks, f)[:, :8] for f in ("tokens", "positions", "block", "start", "patch")))
    prefix = model(tok[:, :9], is_start[:, :9], solo)["noisy_logits"]
    assert torch.allclose(base[:, :8], prefix, atol=1e-5)
    # Inside a block attention is bidirectional: revealing a later byte changes an earlier row.
    b3 = two_blocks()
    b3.tokens[0, 6] = 101
    assert not torch.allclose(model(tok, is_start, b3)["noisy_logits"][:, 0], base[:, 0], atol=1e-3)


def test_byte_never_reads_its_own_patch_latent(model):
    """Leak 2: perturbing latent p changes no logit of bytes in patches <= p; it changes bytes of
    patch p+1. Also: clean logits never depend on later bytes."""
    tok, is_start = tokens(), fixed_patches(1)
    ids = Patches(is_start).ids[0]
    base = model(tok, is_start)["logits"]
    for p in (2, 4, 7):
        def hook(lat, p=p):
            lat = lat.clone()
            lat[:, p] += 10.0
            return lat
        out = model(tok, is_start, latent_hook=hook)["logits"]
        diff = (out - base).abs().amax(-1)[0]
        assert diff[ids <= p].max() < 1e-5, f"a byte of patch <= {p} read latent {p}"
        assert diff[ids == p + 1].min() > 1e-4, f"bytes of patch {p + 1} must read latent {p}"
    later = tok.clone()
    later[0, 25:] = (later[0, 25:] + 1) % 256
    out = model(later, is_start)["logits"]
    assert torch.allclose(out[:, :25], base[:, :25], atol=1e-5)


def test_every_position_is_supervised():
    """Leak 3: every clean position has the next byte as target (the last one included); every
    in-sequence block position is a diffusion target when masked (t = 1 masks all), and its target
    is the byte at its own position."""
    data = np.frombuffer(bytes(range(256)) * 4, dtype=np.uint8)
    tok, tgt = windows_at(data, np.array([3, 100]), L)
    assert (tgt != IGNORE).all()
    assert torch.equal(tok[:, 1:], tgt[:, :-1]) and (tok[:, 0] == BOS_ID).all()
    assert torch.equal(tgt[:, -1], torch.from_numpy(data[[3 + L - 1, 100 + L - 1]].astype(np.int64)))
    is_start = fixed_patches(2)
    patches = Patches(is_start)
    rng = np.random.default_rng(0)
    blocks, btgt, t, real = sample_blocks(tok, patches, [4, 8, 16], 160, rng, t_min=1.0)
    assert (t == 1.0).all()
    for b in range(2):
        used = blocks.block[b] >= 0
        inside = used & (blocks.positions[b] < L)
        assert inside.sum() == real[b]
        assert (btgt[b][inside] == tok[b, blocks.positions[b][inside]]).all()
        assert (btgt[b][~inside] == IGNORE).all()
        assert (blocks.tokens[b][used] == MASK_ID).all()
        starts = sorted(set(blocks.start[b][used].tolist()))
        assert set(starts) <= set(patches.starts[b, 1:].tolist()) and 0 not in starts
        # Patch ids of the blocks match the patch that starts at s.
        assert (patches.starts[b][blocks.patch[b][used]] == blocks.start[b][used]).all()


def test_prefix_states_leak_nothing(model):
    """Prefix states (NoisyBlocks.prefix; the engine's default block_prefix): a block's filled prefix rows start
    from the byte states h, which read bytes at or before their own position only. So the block's logits still do
    not change when bytes after its filled prefix change; and they differ from the token inputs' (the rows read h)."""
    tok, is_start, blocks = tokens(), fixed_patches(1), two_blocks()
    blocks.tokens[0, :3] = tok[0, 9:12]                       # the first block (at 9) has filled bytes 9, 10, 11
    blocks.prefix = torch.zeros_like(blocks.tokens, dtype=torch.bool)
    blocks.prefix[0, :3] = True
    base = model(tok, is_start, blocks)["noisy_logits"]
    other = tok.clone()
    other[0, 12:] = (other[0, 12:] + 77) % 256                 # every byte after the filled prefix
    assert torch.allclose(base[:, :8], model(other, is_start, blocks)["noisy_logits"][:, :8], atol=1e-5)
    plain = NoisyBlocks(blocks.tokens, blocks.positions, blocks.block, blocks.start, blocks.patch)
    assert not torch.allclose(model(tok, is_start, plain)["noisy_logits"][:, :8], base[:, :8], atol=1e-3)


def test_sample_blocks_prefix_is_the_leading_revealed_run():
    data = np.frombuffer(bytes(range(256)) * 4, dtype=np.uint8)
    tok, _ = windows_at(data, np.array([3, 100]), L)
    blocks, _, _, _ = sample_blocks(tok, Patches(fixed_patches(2)), [8], 64, np.random.default_rng(1), t_min=0.3,
                                    prefix_states=True)
    revealed = blocks.tokens != MASK_ID
    for b in range(2):
        for k in range(int(blocks.block[b].max()) + 1):
            slots = (blocks.block[b] == k).nonzero().flatten()
            run = 0
            while run < len(slots) and revealed[b, slots[run]] and blocks.positions[b, slots[run]] < L:
                run += 1
            assert blocks.prefix[b, slots].tolist() == [i < run for i in range(len(slots))]

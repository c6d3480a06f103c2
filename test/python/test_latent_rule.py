"""The paper's latent rule (docs/design.md section 1, Fast BLT section 3.1.1): decoder row i predicts x(i+1)
and reads the latent of the patch just before the patch holding x(i+1). So a byte that is not the last of
its patch never reads its own patch's latent (leak 2), the last byte does, and no later byte can change a
row's logits. Checked on the masks and end to end for the rules "one" and "all"."""
import copy

import pytest
import torch

from conftest import contrasted_model
from scripts.train.model import BOS_ID, NoisyBlocks, Patches, decoder_masks, latent_index

L = 40
STARTS = [0, 1, 5, 9, 12, 17, 20, 24, 30, 33, 38]


def starts_with_next(next_starts):
    s = torch.zeros(1, L + 1, dtype=torch.bool)
    s[0, STARTS] = True
    s[0, L] = next_starts
    return s


def rule_model(cfg, rule):
    cfg = copy.deepcopy(cfg)
    cfg["local"]["decoder_latents"] = rule
    return contrasted_model(cfg)


@pytest.mark.parametrize("next_starts", [False, True])
def test_read_index_is_the_patch_before_the_target_patch(next_starts):
    is_start = starts_with_next(next_starts)
    ids = Patches(is_start[:, :L]).ids[0]
    reads = latent_index(is_start, L)[0]
    for i in range(L):
        last_of_patch = is_start[0, i + 1]
        assert reads[i] == (ids[i] if last_of_patch else ids[i] - 1), i
        assert reads[i] >= 0                                   # BOS (row 0) reads latent 0: x(1) is in patch 1
    assert reads[L - 1] == ids[L - 1] - 1 + int(next_starts)


@pytest.mark.parametrize("rule", ["one", "all"])
def test_cross_masks_follow_the_rule(rule):
    is_start = starts_with_next(True)
    ids = Patches(is_start[:, :L]).ids
    reads = latent_index(is_start, L)
    blocks = NoisyBlocks(torch.full((1, 4), 258), torch.arange(9, 13)[None], torch.zeros(1, 4, dtype=torch.long),
                         torch.full((1, 4), 9), torch.full((1, 4), 3))
    _, _, cross, _ = decoder_masks(ids, len(STARTS), 16, blocks, rule, reads)
    for i in range(L):
        seen = cross[0, i].nonzero().flatten().tolist()
        own = int(ids[0, i])
        assert seen == ([int(reads[0, i])] if rule == "one" else list(range(int(reads[0, i]) + 1)))
        if not is_start[0, i + 1]:
            assert own not in seen, f"row {i} inside patch {own} reads its own latent (leak 2)"
        else:
            assert own in seen, f"row {i} ends patch {own} but does not read its latent"
    for r in range(4):                                         # the block at patch 3 reads latent 2
        assert cross[0, L + r].nonzero().flatten().tolist() == ([2] if rule == "one" else [0, 1, 2])


@pytest.mark.parametrize("rule", ["one", "all"])
def test_no_later_byte_changes_a_rows_logits(cfg, rule):
    """End to end: change every byte after position i (the patch layout up to x(i+1) kept, as the entropy
    model fixes it from bytes <= i): row i's logits stay the same, for rows ending a patch and inside one."""
    model = rule_model(cfg, rule)
    g = torch.Generator().manual_seed(1)
    tok = torch.randint(0, 256, (1, L), generator=g)
    tok[0, 0] = BOS_ID
    is_start = starts_with_next(True)
    base = model(tok, is_start)["logits"][0]
    for i in (3, 4, 8, 11, 16, 25, 37):                        # 4, 8, 11, 16, 37 end patches
        other = tok.clone()
        other[0, i + 1:] = torch.randint(0, 256, (L - i - 1,), generator=g)
        out = model(other, is_start)["logits"][0]
        assert torch.allclose(out[i], base[i], atol=1e-5), f"row {i} changed when later bytes changed"
        assert not torch.allclose(out[i + 1:], base[i + 1:], atol=1e-3)   # the test can see a change


@pytest.mark.parametrize("rule", ["one", "all"])
def test_the_last_byte_of_a_patch_uses_its_latent(cfg, rule):
    """Zeroing only the latent of patch 2 (bytes 5..8) changes row 8 (its last byte) but no row before it."""
    model = rule_model(cfg, rule)
    tok = torch.randint(0, 256, (1, L), generator=torch.Generator().manual_seed(2))
    tok[0, 0] = BOS_ID
    is_start = starts_with_next(True)

    def zero_patch_2(latents):
        latents = latents.clone()
        latents[:, 2] = 0
        return latents
    base = model(tok, is_start)["logits"][0]
    hooked = model(tok, is_start, latent_hook=zero_patch_2)["logits"][0]
    assert torch.allclose(hooked[:8], base[:8], atol=1e-6)
    assert not torch.allclose(hooked[8], base[8], atol=1e-3)


def test_one_latent_gather_equals_masked_cross_attention(cfg):
    """Rule "one" computes wo(wv(latent)) by a gather; attention with the one-hot mask gives the same numbers."""
    model = rule_model(cfg, "one")
    tok = torch.randint(0, 256, (2, L), generator=torch.Generator().manual_seed(3))
    tok[:, 0] = BOS_ID
    is_start = starts_with_next(True).expand(2, -1)
    fast = model(tok, is_start)["logits"]
    for layer in model.local_decoder.layers:                   # force the generic masked path
        layer.forward = _generic(layer)
    slow = model(tok, is_start)["logits"]
    assert torch.allclose(fast, slow, atol=1e-4)


def _generic(layer):
    orig = type(layer).forward

    def forward(x, positions, n_clean, noisy_allowed, latents, cross_allowed, reads=None, seg=None):
        return orig(layer, x, positions, n_clean, noisy_allowed, latents, cross_allowed, None, seg)
    return forward

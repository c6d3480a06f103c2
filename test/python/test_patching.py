"""Entropy patching respects the threshold, the maximum patch length and the BOS rules."""
import torch

from scripts.train.model import Patches, patch_starts


def test_threshold_and_max_len():
    torch.manual_seed(0)
    H = torch.rand(3, 200) * 4
    H[2] = 0.0                                    # never above: only max length splits
    theta, max_len = 2.5, 8
    s = patch_starts(H, theta, max_len)
    assert s[:, 0].all() and s[:, 1].all()
    for b in range(3):
        run = 1
        for i in range(2, 200):
            if H[b, i] > theta:
                assert s[b, i], "a byte above the threshold must start a patch"
            if not s[b, i]:
                run += 1
                assert H[b, i] <= theta
            else:
                assert H[b, i] > theta or run == max_len, "split only above threshold or at max length"
                run = 1
            assert run <= max_len
    assert s[2].nonzero().flatten().tolist() == [0, 1] + list(range(9, 200, 8))


def test_patch_layout():
    is_start = torch.zeros(1, 12, dtype=torch.bool)
    is_start[0, [0, 1, 4, 5, 9]] = True
    p = Patches(is_start)
    assert p.starts[0].tolist() == [0, 1, 4, 5, 9]
    assert p.lens[0].tolist() == [1, 3, 1, 4, 3]
    assert p.ids[0].tolist() == [0, 1, 1, 1, 2, 3, 3, 3, 3, 4, 4, 4]
    two = torch.zeros(2, 6, dtype=torch.bool)
    two[:, :2] = True
    two[0, 3] = True
    p = Patches(two)
    assert p.count.tolist() == [3, 2]
    assert p.lens.tolist() == [[1, 2, 3], [1, 5, 0]]

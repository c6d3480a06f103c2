"""The hashed n-gram rows follow the documented FNV-1a-style rule exactly."""
import torch

from scripts.train.model import BOS_ID, ngram_hash_rows


def reference_rows(ids, n, table_size):
    rows = []
    for i in range(len(ids)):
        h = 2166136261
        for p in range(i - n + 1, i + 1):
            x = ids[p] + 1 if p >= 0 else 0
            h = ((h ^ x) * 16777619) % 2 ** 32
        rows.append(h % table_size)
    return rows


def test_rows_match_the_reference_rule():
    ids = [BOS_ID] + list("Hello, world! \xff".encode("latin-1"))
    for n in range(3, 9):
        for table in (128, 1000, 1024):
            got = ngram_hash_rows(torch.tensor([ids]), n, table)[0].tolist()
            assert got == reference_rows(ids, n, table)


def test_known_value_for_bos_trigram():
    # Position 0 with n = 3: x = 0, 0, 257.
    h = 2166136261
    for x in (0, 0, 257):
        h = ((h ^ x) * 16777619) % 2 ** 32
    assert ngram_hash_rows(torch.tensor([[BOS_ID]]), 3, 2 ** 32)[0, 0].item() == h

"""Export writes safetensors that re-import to identical tensors and identical outputs; the int8
file dequantises closely; golden vectors cover every component."""
import json
import struct

import torch

from scripts.train import safetensors_io
from scripts.train.export import (FORMAT_VERSION, Q8_METADATA, dequantize, embedding_weight_names, golden_vectors,
                                  linear_weight_names, load_model, metadata_for, q8_state)
from scripts.train.model import BLT, BOS_ID


def test_roundtrip_identical(tmp_path, model, cfg):
    path = tmp_path / "model.safetensors"
    state = model.state_dict()
    safetensors_io.save(path, state, metadata_for(cfg))
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"]["format_version"] == FORMAT_VERSION
    assert json.loads(header["__metadata__"]["config"]) == cfg
    assert (8 + n) % 8 == 0
    for k, info in header.items():
        if k != "__metadata__":
            assert info["dtype"] == "F32" and (8 + n + info["data_offsets"][0]) % 4 == 0
    again, _ = load_model(path)
    for k, v in state.items():
        assert torch.equal(again.state_dict()[k], v), k
    tok = torch.tensor([[BOS_ID] + list(b"round trip")])
    s = model.patch(tok)
    assert torch.equal(model(tok, s)["logits"], again(tok, again.patch(tok))["logits"])


def test_q8_rows_and_scales(tmp_path, model, cfg):
    names = linear_weight_names(model)
    tables = embedding_weight_names(model)
    assert "local_decoder.head.weight" in names and "local_encoder.tok_emb.weight" not in names
    assert "local_encoder.tok_emb.weight" in tables and any(".ngram_emb." in t for t in tables)
    state = model.state_dict()
    safetensors_io.save(tmp_path / "q8.safetensors", q8_state(model, state), {**metadata_for(cfg), **Q8_METADATA})
    back, meta = safetensors_io.load(tmp_path / "q8.safetensors")
    assert meta["embeddings"] == "int8"
    for k in (names[0], tables[0]):
        assert back[k].dtype == torch.int8 and back[k + ".scale"].shape == (state[k].shape[0],)
    # norms stay f32
    assert all(back[k].dtype == torch.float32 for k in state if k.endswith("norm.weight"))
    deq = dequantize(back)
    for k in names + tables:
        err = (deq[k] - state[k]).abs().amax(1)
        assert (err <= back[k + ".scale"] * 0.5 + 1e-7).all()
    m = BLT(cfg)
    m.load_state_dict(deq)


def test_golden_vectors_cover_every_component(model):
    tensors, meta = golden_vectors(model)
    inputs = json.loads(meta["inputs"])
    assert len(inputs) == 3
    for spec in inputs:
        p = spec["prefix"]
        L = spec["n_tokens"]
        for name in ("tokens", "ngram_rows", "embeddings", "entropies", "patch_starts", "byte_states",
                     "patch_vectors", "latents", "logits", "block_tokens", "block_logits"):
            assert p + name in tensors
        assert tensors[p + "logits"].shape == (L, 256)
        assert tensors[p + "block_logits"].shape == (spec["block_size"], 256)
    assert sum(t.numel() * t.element_size() for t in tensors.values()) < 1_000_000


def test_committed_tiny_model_reproduces_its_golden_vectors():
    """models/blt-d-tiny: re-import the f32 file and recompute the golden vectors."""
    import os
    import pytest
    from scripts.train.export import load_model
    root = os.path.join(os.path.dirname(__file__), "..", "..", "models", "blt-d-tiny")
    if not os.path.exists(os.path.join(root, "model.safetensors")):
        pytest.skip("models/blt-d-tiny not exported")
    model, _ = load_model(os.path.join(root, "model.safetensors"))
    stored, meta = safetensors_io.load(os.path.join(root, "golden.safetensors"))
    fresh, fresh_meta = golden_vectors(model)
    assert json.loads(meta["inputs"]) == json.loads(fresh_meta["inputs"])
    for k, v in stored.items():
        assert torch.allclose(fresh[k].to(v.dtype), v, atol=1e-5, rtol=0), k


def test_test_windows_spread_over_the_split():
    """A limited test evaluation reads windows spread over the split (which is ordered by source), not its head;
    all windows, in order, when none are left out."""
    from scripts.train.export import test_window_indices
    assert test_window_indices(1048, 1048).tolist() == list(range(1048))
    idx = test_window_indices(1048, 128).tolist()
    assert len(idx) == 128 and idx[0] == 0 and idx == sorted(set(idx))
    assert idx[-1] == 1039 and idx[64] == 524      # within one stride of the end; the middle one is half-way

"""safetensors by hand (no package needed): 8-byte little-endian header length N, N bytes of JSON
{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the raw
little-endian data. Tensors are laid out without gaps, 4-byte dtypes first, so every f32/i32 tensor
starts 4-byte aligned (the header is padded with spaces to a multiple of 8).
"""
import json
import struct

import numpy as np
import torch

DTYPES = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "I8": np.int8, "U8": np.uint8, "F16": np.float16}
NAMES = {np.dtype(v).str.lstrip("<|"): k for k, v in DTYPES.items()}


def _to_numpy(t):
    a = t.detach().cpu().contiguous().numpy() if isinstance(t, torch.Tensor) else np.ascontiguousarray(t)
    return a.astype(a.dtype.newbyteorder("<"), copy=False)


def save(path, tensors, metadata=None):
    """tensors: {name: torch.Tensor | np.ndarray}; metadata: {str: str}."""
    arrays = {k: _to_numpy(v) for k, v in tensors.items()}
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    header, offset = {}, 0
    for k in order:
        a = arrays[k]
        header[k] = {"dtype": NAMES[a.dtype.str.lstrip("<|")], "shape": list(a.shape),
                     "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for k in order:
            f.write(arrays[k].tobytes())


def load(path):
    """-> ({name: torch.Tensor}, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    base, tensors = 8 + n, {}
    for k, info in header.items():
        begin, end = info["data_offsets"]
        a = np.frombuffer(raw, dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"),
                          count=(end - begin) // np.dtype(DTYPES[info["dtype"]]).itemsize, offset=base + begin)
        tensors[k] = torch.from_numpy(a.reshape(info["shape"]).copy())
    return tensors, metadata

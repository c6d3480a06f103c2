"""The device run's last step: the exported model (scripts/train/export.py's folder) loaded by the pool worker's
model (scripts/pool/passes.py) and decoded greedily in every mode (a smoke check, its bytes and bytes/s recorded in
train.jsonl), then the folder as one tar in parts of at most 15 MiB (the device machine returns files of at most
16 MiB), with each part's and the tar's sha256 in train.jsonl.

  python3 -m scripts.device.pack --model WORK/blt-d-9m --out OUT [--device cuda]
Here, after the run: cat OUT/blt-d-9m.tar.part* | tar -x -C models/   (then check its sha256 in train.jsonl)
"""
from ..train import cpu  # noqa: F401

import argparse
import base64
import hashlib
import io
import json
import os
import tarfile
import time

import torch

from ..pool.decode import decode
from ..pool.passes import PoolModel
from ..pool.wire import DecodeRequest

PART_BYTES = 15 << 20
PROMPT = b"It recommended that Fulton legislators act "


def knobs(mode):
    return {"blockSize": 8, "threshold": 0.3 if mode == "blt-dv" else 0.9, "entropyBound": None, "maxStepsPerBlock": 8,
            "draftLength": 8, "blockCommit": "entropy", "blockPrefix": "states"}


def smoke(model_dir, device):
    m = PoolModel(model_dir, device, 1, "auto")
    out = {}
    for mode in ("ar", "blt-d", "blt-s", "blt-dv"):
        r = DecodeRequest(m.id, PROMPT, 64, mode, {"temperature": 0, "topP": 1, "topK": 0, "seed": 1}, knobs(mode), [])
        t0, text, stats = time.perf_counter(), b"", None
        for e in decode(m, r):
            if e[0] == "bytes":
                text += e[1]
            elif e[0] == "done":
                stats = e[2]
        out[mode] = {"text": text.decode("utf-8", "replace"), "bytesBase64": base64.b64encode(text).decode(), "bytes": len(text),
                     "bytesPerSec": round(len(text) / (time.perf_counter() - t0), 1), "passes": stats["passes"]}
    return {"dtype": str(m.dtype).replace("torch.", ""), "modes": out}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the exported model folder")
    ap.add_argument("--out", required=True, help="where the parts go; train.jsonl there gets the records")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args(argv)
    name = os.path.basename(os.path.normpath(args.model))
    record = {"kind": "pool", "model": name, "device": args.device, **smoke(args.model, args.device)}
    with open(os.path.join(args.out, "train.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for file in sorted(os.listdir(args.model)):
            tar.add(os.path.join(args.model, file), arcname=f"{name}/{file}")
    blob = buf.getvalue()
    parts = []
    for k, at in enumerate(range(0, len(blob), PART_BYTES)):
        path = os.path.join(args.out, f"{name}.tar.part{k}")
        with open(path, "wb") as f:
            f.write(blob[at:at + PART_BYTES])
        parts.append({"file": os.path.basename(path), "bytes": len(blob[at:at + PART_BYTES]),
                      "sha256": hashlib.sha256(blob[at:at + PART_BYTES]).hexdigest()})
    record = {"kind": "tar", "model": name, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(), "parts": parts}
    with open(os.path.join(args.out, "train.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()

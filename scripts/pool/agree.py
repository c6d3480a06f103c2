"""How far the PyTorch pool worker's greedy bytes agree with the TypeScript engine's, on any device and dtype: per
model, mode and prompt, the bytes equal before the first difference (f32 should agree everywhere; bf16/f16 on a GPU
drift where two bytes are nearly tied). A measurement, not a test: scripts/device-check.sh records it.

  /usr/bin/python3 -m scripts.pool.agree [--device cuda] [--dtype bf16] [--models models/blt-d-small,...] [--bytes 64]
prints one JSON line per case, then a summary line {"cases", "identical", "meanAgreeBytes"}; needs Node (npx tsx).
"""
from ..train import cpu  # noqa: F401

import argparse
import base64
import json
import os
import subprocess
import sys

import torch

from .decode import decode
from .passes import PoolModel
from .wire import DecodeRequest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPTS = ["The quick brown fox", "It recommended that Fulton", "Once upon a time, in a small town by the sea, "]
MODES = ("ar", "blt-d", "blt-s", "blt-dv")


def knobs_for(mode):
    return {"blockSize": 8, "threshold": 0.3 if mode == "blt-dv" else 0.9, "entropyBound": None, "maxStepsPerBlock": 8,
            "draftLength": 8, "blockCommit": "entropy", "blockPrefix": "states"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models/blt-d-tiny,models/blt-d-small")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="auto", choices=("auto", "f32", "f16", "bf16"))
    ap.add_argument("--bytes", type=int, default=64)
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    cases = [{"model": m, "mode": mode, "prompt": p, "maxNewBytes": args.bytes} for m in models for mode in MODES for p in PROMPTS]
    ts = subprocess.run(["npx", "tsx", "test/support/ts-greedy.ts"], input=json.dumps(cases), cwd=ROOT,
                        capture_output=True, text=True, timeout=600)
    if ts.returncode != 0:
        sys.exit(f"the TypeScript engine failed: {ts.stderr[-2000:]}")
    expected = [base64.b64decode(x["bytes"]) for x in json.loads(ts.stdout)]
    loaded = {m: PoolModel(os.path.join(ROOT, m), args.device, 1, args.dtype) for m in models}
    agree_total, identical = 0, 0
    for case, want in zip(cases, expected):
        r = DecodeRequest(case["model"], case["prompt"].encode(), args.bytes, case["mode"],
                          {"temperature": 0, "topP": 1, "topK": 0, "seed": 1}, knobs_for(case["mode"]), [])
        got = b"".join(e[1] for e in decode(loaded[case["model"]], r) if e[0] == "bytes")
        agree = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        agree_total += agree
        identical += got == want
        print(json.dumps({"model": os.path.basename(case["model"]), "mode": case["mode"], "prompt": case["prompt"],
                          "device": args.device, "dtype": str(loaded[case["model"]].dtype).replace("torch.", ""),
                          "identical": got == want, "agreeBytes": agree, "bytes": len(want)}), flush=True)
    print(json.dumps({"cases": len(cases), "identical": identical, "meanAgreeBytes": round(agree_total / len(cases), 1)}))


if __name__ == "__main__":
    main()

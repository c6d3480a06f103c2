"""The device run's parity step: the PyTorch pool worker's greedy output against the TypeScript engine's, read from
committed fixtures (scripts/device/fixtures/parity.json, made by `npm run fixtures:device`), so no Node is needed.

  python3 -m scripts.device.parity --device cuda --out parity.json [--bf16-cases N]

f32, each case alone: bytes and passes per component must equal the engine's (every mode, both block-prefix
variants, BLT-D's block commit); f32, every case at once through the batcher (batch.py): the same; bf16: how many
greedy bytes agree before the first difference (a measurement: bf16 drifts where two bytes are nearly tied).
Writes one JSON object; exits 1 when an f32 case differs.
"""
from ..train import cpu  # noqa: F401

import argparse
import base64
import json
import os
import sys
import threading
import time

import torch

from ..pool.batch import Batcher
from ..pool.decode import decode
from ..pool.passes import PoolModel
from ..pool.wire import DecodeRequest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "scripts", "device", "fixtures", "parity.json")
GREEDY = {"temperature": 0, "topP": 1, "topK": 0, "seed": 1}


def request(case):
    return DecodeRequest(os.path.basename(case["model"]), case["prompt"].encode(), case["maxNewBytes"], case["mode"],
                         dict(GREEDY), dict(case["knobs"]), [])


def alone(models, case):
    out, stats = b"", None
    for e in decode(models[case["model"]], request(case)):
        if e[0] == "bytes":
            out += e[1]
        elif e[0] == "done":
            stats = e[2]
    return out, stats["passes"]


def batched(models, cases):
    """Every case at once through one batcher (their calls share forward passes), as the worker runs them."""
    batcher = Batcher({m.id: m for m in models.values()})
    results = [None] * len(cases)

    def run(i, case):
        out, passes = b"", None
        for e in batcher.stream(models[case["model"]], request(case), lambda: False):
            if e[0] == "bytes":
                out += e[1]
            elif e[0] == "done":
                passes = e[2]["passes"]
        results[i] = (out, passes)
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(cases)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def agree_len(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--fixtures", default=FIXTURES)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bf16-cases", type=int, default=None, help="bf16 agreement on the first N cases only (default: all)")
    args = ap.parse_args(argv)
    torch.set_float32_matmul_precision("highest")       # f32 means f32 on CUDA too (no TF32 products)
    with open(args.fixtures) as f:
        cases = json.load(f)["cases"]
    names = sorted({c["model"] for c in cases})
    t0 = time.time()
    f32 = {m: PoolModel(os.path.join(ROOT, m), args.device, len(cases), "f32") for m in names}
    rows, wrong = [], 0
    for case in cases:
        want = base64.b64decode(case["expected"]["bytes"])
        got, passes = alone(f32, case)
        same = got == want and passes == case["expected"]["passes"]
        wrong += not same
        rows.append({"model": os.path.basename(case["model"]), "mode": case["mode"], "prompt": case["prompt"][:24],
                     "blockPrefix": case["knobs"]["blockPrefix"], "blockCommit": case["knobs"]["blockCommit"],
                     "f32Identical": same, "f32AgreeBytes": agree_len(got, want), "bytes": len(want),
                     **({} if same else {"got": got.decode("utf-8", "replace"), "want": want.decode("utf-8", "replace"),
                                         "passes": passes, "wantPasses": case["expected"]["passes"]})})
    together = batched(f32, cases)
    batched_wrong = 0
    for row, case, (got, passes) in zip(rows, cases, together):
        same = got == base64.b64decode(case["expected"]["bytes"]) and passes == case["expected"]["passes"]
        row["f32BatchedIdentical"] = same
        batched_wrong += not same
    del f32
    n_bf16 = len(cases) if args.bf16_cases is None else min(len(cases), args.bf16_cases)
    bf16 = {m: PoolModel(os.path.join(ROOT, m), args.device, 1, "bf16") for m in sorted({c["model"] for c in cases[:n_bf16]})}
    agree_total = identical_bf16 = 0
    for row, case in zip(rows, cases[:n_bf16]):
        want = base64.b64decode(case["expected"]["bytes"])
        got, _ = alone(bf16, case)
        row["bf16AgreeBytes"] = agree_len(got, want)
        row["bf16Identical"] = got == want
        agree_total += row["bf16AgreeBytes"]
        identical_bf16 += got == want
    summary = {"device": args.device, "torch": torch.__version__, "cases": len(cases),
               "f32Identical": len(cases) - wrong, "f32BatchedIdentical": len(cases) - batched_wrong,
               "bf16Cases": n_bf16, "bf16Identical": identical_bf16,
               "bf16MeanAgreeBytes": round(agree_total / max(1, n_bf16), 1), "seconds": round(time.time() - t0, 1)}
    with open(args.out, "w") as f:
        json.dump({"summary": summary, "cases": rows}, f, indent=1)
    print(json.dumps(summary))
    if wrong or batched_wrong:
        for r in rows:
            if not (r["f32Identical"] and r["f32BatchedIdentical"]):
                print("differs:", json.dumps(r), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # the batcher's daemon thread still holds torch's thread pools: a normal interpreter exit can abort in their
    # destructors ("terminate called without an active exception"), so the process ends here, its files written
    os._exit(code or 0)

"""Checks a device run's results folder: what comes back from the device machine (at most 8 plain files of at most
16 MiB each, 64 MiB in all, plain names) and every step's output (parity, bench, training curve, export with held-out
bpb and the latent ablation, the pool's smoke decode, the model's parts). Prints one line per check; exits 1 on a
failed one. run.sh runs it last; test/device/test_dry_run.py runs it on a dry run.

  python3 -m scripts.device.check OUT [--modes ar,blt-d,blt-s,blt-dv] [--temperature 0,0.8] [--concurrency 1,8,32,128]
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile

MAX_FILES, MAX_FILE, MAX_TOTAL = 8, 16 << 20, 64 << 20
REQUIRED = ("summary.txt", "logs.txt", "parity.json", "bench.jsonl", "train.jsonl")
WORKER_LIMIT = 10 * 1000 * 1000        # the Worker's bundle limit (gzip), which the int8 weights ride in


def lines(path):
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--modes", default="ar,blt-d,blt-s,blt-dv")
    ap.add_argument("--temperature", default="0,0.8")
    ap.add_argument("--concurrency", default="1,8,32,128")
    args = ap.parse_args(argv)
    failures = []

    def check(ok, what):
        print(("ok      " if ok else "FAILED  ") + what, flush=True)
        if not ok:
            failures.append(what)
        return ok

    def guarded(name, fn):
        try:
            fn()
        except Exception as e:      # a missing or malformed file is a failed check, not a traceback
            check(False, f"{name}: {type(e).__name__}: {e}")

    out = args.out
    entries = sorted(os.listdir(out))
    sizes = {e: os.path.getsize(os.path.join(out, e)) for e in entries}
    check(all(os.path.isfile(os.path.join(out, e)) for e in entries), f"only plain files ({', '.join(entries)})")
    check(len(entries) <= MAX_FILES, f"{len(entries)} files (at most {MAX_FILES})")
    check(all(s <= MAX_FILE for s in sizes.values()), f"largest file {max(sizes.values(), default=0)} bytes (at most {MAX_FILE})")
    check(sum(sizes.values()) <= MAX_TOTAL, f"{sum(sizes.values())} bytes in all (at most {MAX_TOTAL})")
    check(all(re.fullmatch(r"[A-Za-z0-9._-]+", e) for e in entries), "plain file names")
    for name in REQUIRED:
        check(name in entries and sizes[name] > 0, f"{name} written")

    def parity():
        s = json.load(open(os.path.join(out, "parity.json")))["summary"]
        check(s["cases"] > 0 and s["f32Identical"] == s["cases"],
              f"parity: f32 greedy bytes and passes equal the TS engine's in {s['f32Identical']}/{s['cases']} cases alone")
        check(s["f32BatchedIdentical"] == s["cases"], f"parity: {s['f32BatchedIdentical']}/{s['cases']} batched")
        check(s["bf16Cases"] > 0, f"parity: bf16 agreement measured on {s['bf16Cases']} cases "
                                  f"({s['bf16Identical']} identical, {s['bf16MeanAgreeBytes']} bytes agree on average)")

    def bench():
        rows = lines(os.path.join(out, "bench.jsonl"))
        skipped = [x for r in rows if "skipped" in r for x in r["skipped"]]
        rows = [r for r in rows if "skipped" not in r]
        want = {(m, float(t), int(c)) for m in args.modes.split(",") for t in args.temperature.split(",")
                for c in args.concurrency.split(",")}
        have = {(r["mode"], r["temperature"], r["concurrency"]) for r in rows}
        check(have == want, f"bench: {len(have & want)}/{len(want)} rows (mode × temperature × concurrency)"
                            + (f"; skipped for time: {', '.join(skipped)}" if skipped else ""))
        ar = {(r["temperature"], r["concurrency"]): r["bytesPerSec"] for r in rows if r["mode"] == "ar"}
        vs_ar = lambda r: f"{r['bytesPerSec'] / ar[(r['temperature'], r['concurrency'])]:.2f}×" if ar.get((r["temperature"], r["concurrency"])) else "–"
        print("| mode | T | streams | aggregate bytes/s | ÷ AR's | one stream's bytes/s (p50) | first byte ms (p50) | passes per byte "
              "(entropy/encoder/global/decoder) | weight bytes per byte, batched (one stream alone) |\n|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            p = r["passesPerByte"]
            print(f"| {r['mode']} | {r['temperature']:g} | {r['concurrency']} | {r['bytesPerSec']:.0f} | {vs_ar(r)} | {r['streamBytesPerSecP50']:.0f} | "
                  f"{r['firstByteMsP50']:.0f} | {p['entropy']:.2f}/{p['encoder']:.2f}/{p['global']:.2f}/{p['decoder']:.2f} | "
                  f"{r['batchedWeightBytesPerByte'] / 1e6:.2f} MB ({r['streamWeightBytesPerByte'] / 1e6:.2f} MB) |")
        check(all(r["bytesPerSec"] > 0 and r["streamBytesPerSecP50"] > 0 and r["batchedWeightBytesPerByte"] > 0
                  and set(r["passesPerByte"]) == {"entropy", "encoder", "global", "decoder"} for r in rows),
              "bench: every row has bytes/s (aggregate and per stream), passes per byte and weight bytes per byte")

    def train():
        recs = lines(os.path.join(out, "train.jsonl"))
        curve = [r for r in recs if r.get("phase") == "main" and "val_bpb" in r]
        check(len(curve) >= 1, f"train: {len(curve)} validation points on the curve")
        ex = next((r for r in recs if r.get("kind") == "export"), None)
        ev = ex and ex["manifest"]["evaluation"]
        check(bool(ev) and all(k in ev for k in ("test_bits_per_byte_ar", "test_bits_per_byte_without_latents",
                                                    "test_bits_per_byte_shuffled_latents")),
              "train: the export's held-out bpb and latent ablation" + (f" ({ev['test_bits_per_byte_ar']} bpb, "
              f"{ev['test_bits_per_byte_without_latents']} without latents)" if ev else ""))
        pool = next((r for r in recs if r.get("kind") == "pool"), None)
        check(bool(pool) and all(pool["modes"][m]["bytes"] > 0 for m in ("ar", "blt-d", "blt-s", "blt-dv")),
              "train: the exported model decodes in every mode on the pool worker's model")
        tar = next((r for r in recs if r.get("kind") == "tar"), None)
        if not check(bool(tar), "train: the model's tar parts listed"):
            return
        blob = b""
        for p in tar["parts"]:
            data = open(os.path.join(out, p["file"]), "rb").read()
            check(hashlib.sha256(data).hexdigest() == p["sha256"], f"train: {p['file']} sha256")
            blob += data
        check(hashlib.sha256(blob).hexdigest() == tar["sha256"], f"train: {tar['model']}.tar reassembles ({len(blob)} bytes)")
        with tarfile.open(fileobj=io.BytesIO(blob)) as t:
            names = {os.path.basename(n) for n in t.getnames()}
            q8 = t.extractfile(f"{tar['model']}/model.q8.safetensors").read()
        check({"model.safetensors", "model.q8.safetensors", "golden.safetensors", "manifest.json"} <= names,
              f"train: the tar holds {', '.join(sorted(names))}")
        gz = len(gzip.compress(q8, 6))
        print(f"note    int8 weights {len(q8)} bytes, {gz} gzipped ({'within' if gz <= WORKER_LIMIT else 'OVER'} "
              f"the Worker's {WORKER_LIMIT}-byte bundle limit before the code)")

    guarded("parity", parity)
    guarded("bench", bench)
    guarded("train", train)
    print(f"{len(failures)} failed" if failures else "every check passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

"""Held-out bits per byte by source: the export's test windows, each assigned to the source of most of its
bytes, scored with and without the latents (docs/notes/model-v2-runs.md, "By source").

  /usr/bin/python3 -m scripts.train.by_source --model models/blt-v2 [--json]
"""
import argparse
import json
import os

from . import cpu  # noqa: F401
import numpy as np
import torch

from . import data as corpus
from .export import load_model, test_window_indices
from .objective import windows_at
from .train import evaluate_bpb, zero_latents


def test_spans(source_set):
    """(source, start, end) of every test document in data/<set>/test.txt, retraced in data.build's order."""
    spans, at = [], 0
    for source, text, duplicate in corpus.documents(corpus.SOURCE_SETS[source_set], source_set != "v1"):
        if duplicate or corpus.split_of(text) != "test":
            continue
        if spans:
            at += len(corpus.DOC_SEPARATOR)
        n = len(text.encode("utf-8"))
        spans.append((source, at, at + n))
        at += n
    return spans


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an exported model directory")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    manifest, source_set, test = corpus.model_test_split(args.model)
    ev = manifest["evaluation"]
    spans = test_spans(source_set)
    if spans[-1][2] != len(test):
        raise SystemExit(f"the rebuilt documents end at byte {spans[-1][2]}, the test split has {len(test)}: "
                         "data/ was built from other package versions")
    L = ev["window_bytes"]
    all_windows = (len(test) - 1) // L
    n = ev.get("test_windows", all_windows)
    idx = test_window_indices(all_windows, n) if ev.get("test_window_selection") == "spread" else np.arange(n)
    owner = []
    for i in idx:
        lo, hi, share = i * L, i * L + L, {}
        for source, a, b in spans:
            overlap = min(hi, b) - max(lo, a)
            if overlap > 0:
                share[source] = share.get(source, 0) + overlap
        owner.append(max(share, key=share.get))
    model, _ = load_model(os.path.join(args.model, "model.safetensors"))
    tokens, targets = windows_at(test, idx * L, L)
    out = {}
    for source in sorted(set(owner)):
        w = [j for j, s in enumerate(owner) if s == source]
        bpb = evaluate_bpb(model, tokens[w], targets[w], 4, "cpu")[0]
        without = evaluate_bpb(model, tokens[w], targets[w], 4, "cpu", zero_latents)[0]
        out[source] = {"windows": len(w), "bits_per_byte": round(bpb, 4), "without_latents": round(without, 4),
                       "latent_gap": round(without - bpb, 4)}
        if not args.json:
            print(f"{source:16s} {len(w):4d} windows  {bpb:.4f} bpb  without latents {without:.4f}  "
                  f"gap {without - bpb:+.4f}", flush=True)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

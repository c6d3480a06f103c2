"""The device run as the GPU machine gets it, on the CPU: scripts/device/stage.sh assembles the folder that travels
(at most 60 MiB), and scripts/device/run.sh --dry-run runs every step inside that folder with Node hidden from PATH
(only the tools the script names are reachable), so anything that still needs Node, node_modules or a file left
behind fails here. Then scripts/device/check.py must refuse a results folder that would not come back whole.
Run by .ci/run (`npm run test:device`), apart from test/python: it takes a minute or two on two cores.
"""
import base64
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from scripts.device.pack import PROMPT, knobs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = ("bash", "sh", "env", "timeout", "date", "mktemp", "mkdir", "dirname", "tail", "tee", "sed", "grep", "cat",
         "rm", "head", "ls", "uname")


def path_without_node(tmp):
    """A PATH of links to the few tools run.sh uses, with no node, npm or npx among them."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            os.symlink(found, bin_dir / tool)
    path = str(bin_dir)
    assert all(shutil.which(t, path=path) is None for t in ("node", "npm", "npx", "tsx"))
    return path


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("device")
    stage = subprocess.run(["bash", "scripts/device/stage.sh", str(tmp / "stage")], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert stage.returncode == 0, stage.stderr
    out = tmp / "out"
    env = {"PATH": path_without_node(tmp), "HOME": str(tmp), "TMPDIR": str(tmp), "BLTEDGE_PYTHON": sys.executable}
    run = subprocess.run(["bash", "scripts/device/run.sh", "--dry-run", str(out)], cwd=tmp / "stage", env=env,
                         capture_output=True, text=True, timeout=600)
    return {"stage": stage, "stage_dir": tmp / "stage", "run": run, "out": out}


def test_the_staged_folder_is_under_60_mib_and_holds_no_node_modules(dry_run):
    size = int(dry_run["stage"].stdout.strip().splitlines()[-1])
    assert 0 < size <= 60 << 20
    names = {p.name for p in dry_run["stage_dir"].rglob("*")}
    assert "node_modules" not in names and "train-state" not in names
    assert {"train.txt.gz", "val.txt.gz", "test.txt.gz", "parity.json", "run.sh"} <= names


def test_every_step_of_the_dry_run_passes_without_node(dry_run):
    run, out = dry_run["run"], dry_run["out"]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    summary = (out / "summary.txt").read_text()
    for step in ("data", "env", "parity", "bench", "train", "export", "pack", "check"):
        assert f"\n{step}: ok in " in summary, summary
    assert "every check passed" in summary
    env = json.loads(next(l for l in summary.splitlines() if l.startswith('{"python"')))
    assert env["node"] is None


def test_the_results_come_back_whole(dry_run):
    out = dry_run["out"]
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and all(p.is_file() and p.stat().st_size <= 16 << 20 for p in out.iterdir())
    assert {"summary.txt", "logs.txt", "parity.json", "bench.jsonl", "train.jsonl", "blt-d-9m.tar.part0"} <= set(files)
    parity = json.loads((out / "parity.json").read_text())["summary"]
    assert parity["f32Identical"] == parity["cases"] == parity["f32BatchedIdentical"] > 0
    rows = [json.loads(l) for l in (out / "bench.jsonl").read_text().splitlines()]
    assert {(r["mode"], r["temperature"]) for r in rows} == {(m, t) for m in ("ar", "blt-d", "blt-s", "blt-dv") for t in (0.0, 0.8)}
    train = [json.loads(l) for l in (out / "train.jsonl").read_text().splitlines()]
    ev = next(r for r in train if r.get("kind") == "export")["manifest"]["evaluation"]
    assert ev["test_bits_per_byte_ar"] > 0 and ev["test_bits_per_byte_without_latents"] > 0


def check(folder):
    return subprocess.run([sys.executable, "-m", "scripts.device.check", str(folder), "--concurrency", "1,2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_check_refuses_results_that_would_not_come_back(dry_run, tmp_path):
    good = tmp_path / "good"
    shutil.copytree(dry_run["out"], good)
    assert check(good).returncode == 0
    many = tmp_path / "many"
    shutil.copytree(good, many)
    for k in range(3):
        (many / f"extra{k}.txt").write_text("x")
    r = check(many)
    assert r.returncode == 1 and "FAILED  9 files" in r.stdout
    torn = tmp_path / "torn"
    shutil.copytree(good, torn)
    part = torn / "blt-d-9m.tar.part0"
    data = bytearray(part.read_bytes())
    data[100] ^= 1
    part.write_bytes(bytes(data))
    r = check(torn)
    assert r.returncode == 1 and "FAILED  train: blt-d-9m.tar.part0 sha256" in r.stdout


def test_the_exported_model_decodes_alike_in_the_typescript_engine(dry_run, tmp_path):
    # the trained model comes back as tar parts; unpacked, the TS engine loads it and its greedy bytes in every mode
    # are those the pool worker's model made from it on the device (f32 on the CPU here)
    if shutil.which("npx") is None:
        if os.environ.get("BLTEDGE_SKIP_TS_PARITY") == "1":
            pytest.skip("BLTEDGE_SKIP_TS_PARITY=1")
        pytest.fail("npx not found: this check needs Node (BLTEDGE_SKIP_TS_PARITY=1 skips it on purpose)")
    out = dry_run["out"]
    records = [json.loads(l) for l in (out / "train.jsonl").read_text().splitlines()]
    tar, pool = (next(r for r in records if r.get("kind") == k) for k in ("tar", "pool"))
    blob = b"".join((out / p["file"]).read_bytes() for p in tar["parts"])
    with tarfile.open(fileobj=io.BytesIO(blob)) as t:
        t.extractall(tmp_path)
    modes = ("ar", "blt-d", "blt-s", "blt-dv")
    cases = [{"model": str(tmp_path / tar["model"]), "mode": m, "prompt": PROMPT.decode(), "maxNewBytes": 64, "knobs": knobs(m)}
             for m in modes]
    ts = subprocess.run(["npx", "tsx", "test/support/ts-greedy.ts"], input=json.dumps(cases), cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
    assert ts.returncode == 0, ts.stderr
    got = {m: base64.b64decode(r["bytes"]) for m, r in zip(modes, json.loads(ts.stdout))}
    assert pool["dtype"] == "float32"
    assert all(len(got[m]) == 64 for m in modes)
    assert got == {m: base64.b64decode(pool["modes"][m]["bytesBase64"]) for m in modes}

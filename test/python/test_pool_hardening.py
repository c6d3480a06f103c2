"""The pool worker as a peer of untrusted clients and requests: the shared secret on every request,
a socket timeout and a bound on connections, a work budget that keeps the heaviest BLT-DV knobs cheap without
changing greedy bytes, and blocks of 33 to 64 bytes served."""
import base64
import http.client
import json
import os
import re
import select
import socket

import pytest

from conftest import ROOT, pool_worker

SECRET = "s3cret"
MAX_CONNECTIONS = 3


@pytest.fixture(scope="module")
def port():
    with pool_worker("--models", "models/blt-d-tiny", "--threads", "1", "--device", "cpu", "--secret", SECRET,
                     "--max-connections", str(MAX_CONNECTIONS), "--socket-timeout", "1") as (p, _):
        yield p


def call(port, method, path, payload=None, secret=SECRET):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"content-type": "application/json", **({"x-pool-secret": secret} if secret is not None else {})}
    conn.request(method, path, body=None if payload is None else json.dumps(payload).encode(), headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, raw


def decode(port, mode, max_new=128, **knobs):
    k = {"blockSize": 8, "threshold": 0.9, "entropyBound": None, "maxStepsPerBlock": 8, "draftLength": 8, **knobs}
    status, raw = call(port, "POST", "/v1/decode", {"version": 1, "request": {
        "model": "blt-d-tiny", "promptBase64": base64.b64encode(b"The quick brown fox ").decode(), "maxNewBytes": max_new,
        "mode": mode, "sampling": {"temperature": 0, "topP": 1, "topK": 0, "seed": 0}, "knobs": k}})
    assert status == 200, raw
    events = [json.loads(b.split("data: ", 1)[1]) for b in raw.decode().split("\n\n") if "data: " in b]
    assert events[-1]["type"] == "done", events[-1]
    return b"".join(base64.b64decode(e["bytesBase64"]) for e in events[:-1]), events[-1]["stats"]


def test_connections_beyond_the_bound_are_closed_and_silent_ones_time_out(port):
    # first in this module: no connection of an earlier test holds a place
    idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(MAX_CONNECTIONS)]
    extra = None
    try:
        # every place is taken: a further connection is closed at once, before the silent ones time out
        extra = socket.create_connection(("127.0.0.1", port), timeout=30)
        first, _, _ = select.select(idle + [extra], [], [], 30)
        assert first == [extra], "a silent connection was dropped before the one over the bound"
        assert extra.recv(1) == b""
        # the silent connections are dropped by the worker's socket timeout, and then it serves again
        for s in idle:
            assert s.recv(1) == b""
        assert call(port, "GET", "/health")[0] == 200
    finally:
        for s in idle + [extra]:
            if s is not None:
                s.close()


def test_every_request_needs_the_secret(port):
    for secret in (None, "wrong", SECRET[:-1]):
        assert call(port, "GET", "/health", secret=secret)[0] == 401
        assert call(port, "POST", "/v1/decode", {"version": 1}, secret=secret)[0] == 401
    assert call(port, "GET", "/health")[0] == 200


def test_heaviest_blt_dv_knobs_draft_within_the_budget_and_emit_ar_bytes(port):
    from scripts.pool.decode import ROW_COST_WHOLE, WorkBudget
    ar, _ = decode(port, "ar")
    dv, stats = decode(port, "blt-dv", blockSize=64, maxStepsPerBlock=64, threshold=1)
    assert dv == ar
    # a draft of B >= 2 bytes is charged B*steps + ROW_COST_WHOLE*B >= (2 + ROW_COST_WHOLE)*B rows
    assert stats["draftedBytes"] <= WorkBudget(128).limit / (2 + ROW_COST_WHOLE)


@pytest.mark.parametrize("block", [33, 48, 64])
def test_blocks_over_32_bytes_decode(port, block):
    out, stats = decode(port, "blt-d", max_new=100, blockSize=block, maxStepsPerBlock=4)
    assert len(out) == 100 and stats["generatedBytes"] == 100


def test_models_default_to_the_services_default_model():
    """Without --models the worker serves DEFAULT_MODEL from src/config.ts, as the Worker and the TS pool do."""
    with open(os.path.join(ROOT, "src", "config.ts"), encoding="utf-8") as f:
        default = re.search(r'export const DEFAULT_MODEL = "([^"]+)"', f.read()).group(1)
    with pool_worker("--threads", "1", "--device", "cpu") as (port, line):
        assert f"models {default})" in line
        status, raw = call(port, "GET", "/health", secret=None)
        assert status == 200 and json.loads(raw)["models"] == [default]

"""The PyTorch pool worker reads its request limits from the request contract (src/contract.ts, written to
scripts/pool/contract.json by `npm run contract`): a limit changed in the table changes the worker's check and its
400 message, with the same sentence the TS engine gives (test/contract/changed-limit.test.ts is the TS side)."""
import base64
import copy
import json

import pytest

from scripts.pool import wire


class Model:
    ctx = 512


def raw(**knobs):
    k = {"blockSize": 8, "threshold": 0.9, "entropyBound": None, "maxStepsPerBlock": 8, "draftLength": 8, **knobs}
    return json.dumps({"version": 1, "request": {
        "model": "m", "promptBase64": base64.b64encode(b"Hello").decode(), "maxNewBytes": 16, "mode": "blt-d",
        "sampling": {"temperature": 0, "topP": 1, "topK": 0, "seed": 0}, "knobs": k}}).encode()


def parse(body):
    return wire.parse_request(body, {"m": Model()}, wire.DECODE_MODES)


def test_the_worker_checks_the_tables_limits():
    assert wire.CONTRACT["fields"]["block_size"]["max"] == 64
    r, _ = parse(raw(blockSize=32))
    assert r.knobs["blockSize"] == 32
    with pytest.raises(wire.WireError) as e:
        parse(raw(blockSize=65))
    assert (e.value.status, e.value.param, e.value.message) == (400, "block_size", "block_size must be an integer in [1, 64], got 65")


def test_a_limit_changed_in_the_table_changes_the_check_and_the_message(tmp_path, monkeypatch):
    table = copy.deepcopy(wire.CONTRACT)
    table["fields"]["block_size"]["max"] = 16
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(wire, "CONTRACT", wire.load_contract(str(path)))
    with pytest.raises(wire.WireError) as e:
        parse(raw(blockSize=32))
    assert (e.value.status, e.value.code, e.value.param) == (400, "invalid_request", "block_size")
    assert e.value.message == "block_size must be an integer in [1, 16], got 32"
    r, _ = parse(raw(blockSize=16))
    assert r.knobs["blockSize"] == 16


def test_errors_name_the_contracts_fields():
    cases = [
        (dict(blockSize=0), "block_size", "block_size must be an integer in [1, 64], got 0"),
        (dict(threshold=0), "threshold", "threshold must be a number in (0, 1], got 0"),
        (dict(entropyBound=-1), "entropy_bound", "entropy_bound must be a number ≥ 0, got -1"),
        (dict(blockPrefix="bytes"), "block_prefix", 'block_prefix must be one of tokens, states, got bytes'),
    ]
    for knobs, param, message in cases:
        with pytest.raises(wire.WireError) as e:
            parse(raw(**knobs))
        assert (e.value.param, e.value.message) == (param, message)
    body = json.loads(raw())
    body["request"]["maxNewBytes"] = 9000
    with pytest.raises(wire.WireError) as e:
        parse(json.dumps(body).encode())
    assert (e.value.param, e.value.message) == ("max_tokens", "max_tokens must be an integer in [0, 8192], got 9000")
    body["request"]["maxNewBytes"] = 16
    body["request"]["sampling"]["topP"] = 0
    with pytest.raises(wire.WireError) as e:
        parse(json.dumps(body).encode())
    assert (e.value.param, e.value.message) == ("top_p", "top_p must be a number in (0, 1], got 0")


def test_structured_output_and_logprobs_fields_are_read_and_checked():
    body = json.loads(raw())
    body["request"]["responseFormat"] = {"type": "json_object"}
    with pytest.raises(wire.WireError) as e:          # without its compiled program (request.constraint)
        parse(json.dumps(body).encode())
    assert (e.value.status, e.value.param) == (400, "response_format")
    body["request"]["constraint"] = {"elements": [5, -1], "sets": [0] * 8, "alts": [[0]], "root": 0}
    with pytest.raises(wire.WireError) as e:          # a program referring to a set it does not hold
        parse(json.dumps(body).encode())
    assert e.value.param == "response_format"
    body["request"]["constraint"] = {"elements": [0, -1], "sets": [0, 2, 0, 0, 0, 0, 0, 0], "alts": [[0]], "root": 0}
    body["request"].update({"logprobs": 3, "promptLogprobs": True})
    r, _ = parse(json.dumps(body).encode())
    assert (r.logprobs, r.prompt_logprobs, r.constraint["root"]) == (3, True, 0)
    body["request"]["logprobs"] = 21
    with pytest.raises(wire.WireError) as e:
        parse(json.dumps(body).encode())
    assert (e.value.param, e.value.message) == ("top_logprobs", "top_logprobs must be an integer in [0, 20], got 21")

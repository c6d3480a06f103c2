"""The edge ⇄ pool wire protocol, version 1: the decode request body and its validation, and the error
answers given before a stream starts. The limits, defaults and names come from the request contract
(src/contract.ts), which `npm run contract` writes to scripts/pool/contract.json (CI fails when the two differ);
the checks are validateRequest's in src/engine/engine.ts, worded the same. Fields use the wire's camelCase
names, while error `param`s and messages use the contract's API names (max_tokens, block_size, ...), which the
edge passes on to OpenAI-style errors. Unknown extra fields are ignored, so that v1 can grow optional fields.

  {"version": 1, "request": {"model": "blt-d-tiny", "promptBase64": "...", "maxNewBytes": 64, "mode": "ar",
   "sampling": {"temperature": 0, "topP": 1, "topK": 0, "seed": 0},
   "knobs": {"blockSize": 8, "threshold": 0.9, "entropyBound": null, "maxStepsPerBlock": 8, "draftLength": 8,
             "blockCommit": "entropy", "blockPrefix": "states"},
   "stopBase64": ["..."]}}           (stopBase64, knobs.entropyBound, knobs.blockCommit and knobs.blockPrefix may be
                                      left out: no stops, null, "entropy", "states")
  Optional: "responseFormat" with "constraint" (its compiled program, constrain.py), "logprobs" (the top count),
  "promptLogprobs" (true: the prompt's per-byte log-probabilities first).
"""
import base64
import binascii
import json
import math
import os
from dataclasses import dataclass

VERSION = 1
CONTRACT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "contract.json")


def load_contract(path=CONTRACT_PATH):
    """The request contract as src/contract.ts writes it: {"decodeModes": [...], "fields": {api name: row}}."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


CONTRACT = load_contract()      # read at each call of parse_request, so a test may swap it
DECODE_MODES = tuple(CONTRACT["decodeModes"])
MAX_NEW_BYTES = CONTRACT["fields"]["max_tokens"]["max"]     # most bytes a request may generate (passes.py sizes RoPE by it)


class WireError(Exception):
    """An answer before streaming: HTTP status, error code, message (and the offending field)."""

    def __init__(self, status, code, message, param=None):
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param

    def body(self):
        err = {"code": self.code, "message": self.message}
        if self.param:
            err["param"] = self.param
        return {"error": err}


def api_name(key, where="request"):
    """The contract's name for a wire field (`where`: the object holding it): maxNewBytes -> max_tokens,
    knobs.blockSize -> block_size, promptBase64 -> prompt; a name no row has is kept."""
    path = f"{where}.{key}" if where in ("sampling", "knobs") else key.replace("Base64", "")
    for name, row in CONTRACT["fields"].items():
        if row.get("engine") == path:
            return name
    return path


def describe(name, row):
    """The contract's sentence for a value outside a field's limits (describeField in src/contract.ts)."""
    kind = row["kind"]
    if kind in ("integer", "number"):
        interval = f"≥ {row['min']}" if row.get("max") is None else f"in {'(' if row.get('minOpen') else '['}{row['min']}, {row['max']}]"
        return f"{name} must be {'an integer' if kind == 'integer' else 'a number'} {interval}"
    if kind == "choice":
        return f"{name} must be one of {', '.join(row['values'])}"
    if kind == "boolean":
        return f"{name} must be true or false"
    if kind == "format":
        return f"{name} must be an object of at most {row['maxBytes']} bytes whose type is one of {', '.join(row['types'])}"
    return f"{name}: up to {row['maxCount']} stop sequences of 1 to {row['maxBytes']} bytes"


def in_range(v, row):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return False
    if row["kind"] == "integer" and not float(v).is_integer():
        return False
    above = v > row["min"] if row.get("minOpen") else v >= row["min"]
    return above and (row.get("max") is None or v <= row["max"])


def _show(v):
    """A value as the TS engine's message shows it (9000.0 -> 9000, a string bare)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return v if isinstance(v, str) else json.dumps(v) if not isinstance(v, (int, float)) else str(v)


def invalid(param, message, where="request"):
    return WireError(400, "invalid_request", message, api_name(param, where))


def _check(v, name):
    """v against the contract row `name`: an int for integer rows; raises the contract's 400 otherwise."""
    row = CONTRACT["fields"][name]
    if not in_range(v, row):
        raise WireError(400, "invalid_request", f"{describe(name, row)}, got {_show(v)}", name)
    return int(v) if row["kind"] == "integer" else v


@dataclass
class DecodeRequest:
    model: str
    prompt: bytes
    max_new_bytes: int
    mode: str
    sampling: dict          # temperature, topP, topK, seed
    knobs: dict             # blockSize, threshold, entropyBound (None or a number), maxStepsPerBlock, draftLength,
                            # blockCommit ("entropy" or "block"), blockPrefix ("tokens" or "states")
    stop: list              # of bytes
    constraint: dict = None         # the compiled response format (constrain.py), when the request has one
    logprobs: int = None            # the top count of per-byte log-probabilities; None: none
    prompt_logprobs: bool = False   # the prompt's per-byte log-probabilities first


# Most elements of a compiled constraint on the wire (MAX_WIRE_CONSTRAINT in src/backends/wire.ts)
MAX_WIRE_CONSTRAINT = 60_000


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")     # Python's json would accept NaN and Infinity


def _field(obj, key, kind, where):
    if key not in obj:
        raise invalid(key, f"{where}.{key} is missing", where)
    v = obj[key]
    ok = {"string": lambda: isinstance(v, str), "object": lambda: isinstance(v, dict),
          "number": lambda: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and math.isfinite(v))}[kind]()
    if not ok:
        raise invalid(key, f"{where}.{key} must be {'an' if kind == 'object' else 'a'} {kind}, got {json.dumps(v)[:40]}", where)
    return v


def _base64(s, param):
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(param, f"{param} is not valid base64") from None


def parse_request(raw, models, modes):
    """raw body bytes -> (DecodeRequest, the model it names). models: {id: PoolModel with .ctx};
    modes: the modes this worker implements. Raises WireError."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError):         # UnicodeDecodeError is a ValueError
        raise invalid("body", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("body", "the body must be a JSON object")
    if "version" not in body:
        raise invalid("version", "version is missing")
    v = body["version"]
    if isinstance(v, bool) or v != VERSION:
        raise WireError(400, "unsupported_version", f"protocol version {json.dumps(v)[:20]} is not supported; this worker speaks {VERSION}")
    r = _field(body, "request", "object", "body")
    fields = CONTRACT["fields"]

    # which model and mode: answered before the rest (404 / unsupported_mode)
    model_id = _field(r, "model", "string", "request")
    if model_id not in models:
        raise WireError(404, "model_not_found", f"model {json.dumps(model_id)} is not served here; try {', '.join(models)}")
    model = models[model_id]
    mode = _field(r, "mode", "string", "request")
    if mode not in modes:
        known = "" if mode in DECODE_MODES else "unknown mode; "
        raise WireError(400, "unsupported_mode", f"{known}mode {json.dumps(mode)} is not implemented here; use one of {', '.join(modes)}", "mode")

    # every field present and of the right type
    prompt = _base64(_field(r, "promptBase64", "string", "request"), "promptBase64")
    max_new = _field(r, "maxNewBytes", "number", "request")
    s, k = _field(r, "sampling", "object", "request"), _field(r, "knobs", "object", "request")
    sampling = {key: _field(s, key, "number", "sampling") for key in ("temperature", "topP", "topK", "seed")}
    knobs = {key: _field(k, key, "number", "knobs") for key in ("blockSize", "threshold", "maxStepsPerBlock", "draftLength")}
    knobs["entropyBound"] = None if k.get("entropyBound") is None else _field(k, "entropyBound", "number", "knobs")
    for key, name in (("blockCommit", "block_commit"), ("blockPrefix", "block_prefix")):   # absent: the contract's default
        row = fields[name]
        knobs[key] = row["default"] if k.get(key) is None else k[key]
        if knobs[key] not in row["values"]:
            raise WireError(400, "invalid_request", f"{describe(name, row)}, got {_show(knobs[key])[:40]}", name)
    stops = r.get("stopBase64", [])
    if not isinstance(stops, list) or not all(isinstance(x, str) for x in stops):
        raise invalid("stopBase64", "request.stopBase64 must be a list of base64 strings")
    stop = [_base64(x, "stopBase64") for x in stops]
    # structured output: the edge sends the response format and its compiled program (request.constraint), which
    # this worker runs (constrain.py); a format without its program (over MAX_WIRE_CONSTRAINT elements) is refused
    from .constrain import check_program
    constraint = None
    rf = r.get("responseFormat")
    if rf is not None and not (isinstance(rf, dict) and rf.get("type") == "text"):
        if not isinstance(rf, dict) or len(json.dumps(rf)) > fields["response_format"]["maxBytes"]:
            raise WireError(400, "invalid_request", describe("response_format", fields["response_format"]), "response_format")
        if r.get("constraint") is None:
            raise WireError(400, "invalid_request", "response_format: this worker needs its compiled program (request.constraint), "
                                                    f"which the edge sends for programs of at most {MAX_WIRE_CONSTRAINT} elements", "response_format")
        problem = check_program(r["constraint"], MAX_WIRE_CONSTRAINT)
        if problem:
            raise WireError(400, "invalid_request", problem, "response_format")
        constraint = r["constraint"]
    logprobs = None if r.get("logprobs") is None else _field(r, "logprobs", "number", "request")
    prompt_logprobs = r.get("promptLogprobs")
    if prompt_logprobs is not None and not isinstance(prompt_logprobs, bool):
        raise invalid("promptLogprobs", "request.promptLogprobs must be a boolean")

    # ranges (validateRequest in src/engine/engine.ts)
    # the prompt must fit the model's window; generation may run past it (the caches slide)
    if len(prompt) > model.ctx - 1:
        raise invalid("prompt", f"the prompt is {len(prompt)} bytes; this model reads prompts of at most {model.ctx - 1} "
                                f"bytes (its {model.ctx}-byte window, BOS included)")
    max_new = _check(max_new, "max_tokens")
    for key in ("blockSize", "maxStepsPerBlock", "draftLength", "threshold"):
        knobs[key] = _check(knobs[key], api_name(key, "knobs"))
    if knobs["entropyBound"] is not None:
        _check(knobs["entropyBound"], "entropy_bound")
    for key in ("temperature", "topP", "topK", "seed"):
        sampling[key] = _check(sampling[key], api_name(key, "sampling"))
    row = fields["stop"]
    if len(stop) > row["maxCount"] or any(not 1 <= len(x) <= row["maxBytes"] for x in stop):
        raise WireError(400, "invalid_request", describe("stop", row), "stop")
    if logprobs is not None:
        logprobs = _check(logprobs, "top_logprobs")
    return DecodeRequest(model_id, prompt, max_new, mode, sampling, knobs, stop, constraint, logprobs, bool(prompt_logprobs)), model

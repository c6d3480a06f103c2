"""The edge ⇄ pool wire protocol, version 1: the decode request body and its validation, and the error
answers given before a stream starts. The checks mirror validateRequest in src/engine/engine.ts; fields use
the wire's camelCase names, while error `param`s and messages use the engine's snake_case names
(max_new_bytes, block_size, ...), which the edge passes on to OpenAI-style errors. Unknown extra fields are
ignored, so that v1 can grow optional fields.

  {"version": 1, "request": {"model": "blt-d-tiny", "promptBase64": "...", "maxNewBytes": 64, "mode": "ar",
   "sampling": {"temperature": 0, "topP": 1, "topK": 0, "seed": 0},
   "knobs": {"blockSize": 8, "threshold": 0.9, "entropyBound": null, "maxStepsPerBlock": 8, "draftLength": 8,
             "blockCommit": "entropy", "blockPrefix": "states"},
   "stopBase64": ["..."]}}           (stopBase64, knobs.entropyBound, knobs.blockCommit and knobs.blockPrefix may be
                                      left out: no stops, null, "entropy", "states")
"""
import base64
import binascii
import json
import math
import re
from dataclasses import dataclass

VERSION = 1
DECODE_MODES = ("ar", "blt-d", "blt-s", "blt-dv")
MAX_BLOCK = 64              # largest block or draft (src/engine/decode/context.ts)
MAX_NEW_BYTES = 8192        # most bytes a request may generate (src/engine/engine.ts MAX_NEW_BYTES)
MAX_STOPS, MAX_STOP_BYTES = 4, 64
BLOCK_COMMITS = ("entropy", "block")     # how BLT-D commits a block (src/protocol.ts ModeKnobs.blockCommit)
BLOCK_PREFIXES = ("tokens", "states")    # what a block's revealed prefix feeds the decoder (ModeKnobs.blockPrefix)


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


def snake(name):
    """The engine's name for a wire field: maxNewBytes -> max_new_bytes, promptBase64 -> prompt."""
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name.replace("Base64", ""))


def invalid(param, message):
    return WireError(400, "invalid_request", message, snake(param))


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


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")     # Python's json would accept NaN and Infinity


def _field(obj, key, kind, where):
    if key not in obj:
        raise invalid(key, f"{where}.{key} is missing")
    v = obj[key]
    ok = {"string": lambda: isinstance(v, str), "object": lambda: isinstance(v, dict),
          "number": lambda: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and math.isfinite(v))}[kind]()
    if not ok:
        raise invalid(key, f"{where}.{key} must be {'an' if kind == 'object' else 'a'} {kind}, got {json.dumps(v)[:40]}")
    return v


def _int(v, lo, hi, param):
    if not ((isinstance(v, int) or v.is_integer()) and lo <= v <= hi):
        raise invalid(param, f"{snake(param)} must be an integer in [{lo}, {hi}], got {v}")
    return int(v)


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
    knobs["blockCommit"] = "entropy" if k.get("blockCommit") is None else k["blockCommit"]
    if knobs["blockCommit"] not in BLOCK_COMMITS:
        raise invalid("blockCommit", f"block_commit must be one of {', '.join(BLOCK_COMMITS)}, got {json.dumps(knobs['blockCommit'])[:40]}")
    knobs["blockPrefix"] = k.get("blockPrefix") or "states"   # absent: the default (src/protocol.ts)
    if knobs["blockPrefix"] not in BLOCK_PREFIXES:
        raise invalid("blockPrefix", f"block_prefix must be one of {', '.join(BLOCK_PREFIXES)}, got {json.dumps(knobs['blockPrefix'])[:40]}")
    stops = r.get("stopBase64", [])
    if not isinstance(stops, list) or not all(isinstance(x, str) for x in stops):
        raise invalid("stopBase64", "request.stopBase64 must be a list of base64 strings")
    stop = [_base64(x, "stopBase64") for x in stops]

    # ranges (validateRequest in src/engine/engine.ts)
    # the prompt must fit the model's window; generation may run past it (the caches slide)
    if len(prompt) > model.ctx - 1:
        raise invalid("prompt", f"the prompt is {len(prompt)} bytes; this model reads prompts of at most {model.ctx - 1} "
                                f"bytes (its {model.ctx}-byte window, BOS included)")
    max_new = _int(max_new, 0, MAX_NEW_BYTES, "maxNewBytes")
    for key in ("blockSize", "maxStepsPerBlock", "draftLength"):
        knobs[key] = _int(knobs[key], 1, MAX_BLOCK, key)
    if not 0 < knobs["threshold"] <= 1:
        raise invalid("threshold", f"threshold must be in (0, 1], got {knobs['threshold']}")
    if knobs["entropyBound"] is not None and knobs["entropyBound"] < 0:
        raise invalid("entropyBound", "entropy_bound must be ≥ 0")
    if not 0 <= sampling["temperature"] <= 10:
        raise invalid("temperature", f"temperature must be in [0, 10], got {sampling['temperature']}")
    if not 0 < sampling["topP"] <= 1:
        raise invalid("topP", f"top_p must be in (0, 1], got {sampling['topP']}")
    sampling["topK"] = _int(sampling["topK"], 0, 256, "topK")
    sampling["seed"] = _int(sampling["seed"], 0, 2 ** 32 - 1, "seed")
    if len(stop) > MAX_STOPS or any(not 1 <= len(x) <= MAX_STOP_BYTES for x in stop):
        raise invalid("stop", f"up to {MAX_STOPS} stop sequences of 1 to {MAX_STOP_BYTES} bytes")
    return DecodeRequest(model_id, prompt, max_new, mode, sampling, knobs, stop), model

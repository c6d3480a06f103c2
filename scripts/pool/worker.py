"""The reference GPU-pool worker: an HTTP server (stdlib only) serving models/<name>/model.safetensors over
the decoding wire protocol, version 1 (request body: scripts/pool/wire.py).

  /usr/bin/python3 -m scripts.pool.worker [--models models/blt-v2,models/blt-d-tiny] --port 8790 \
      [--host 127.0.0.1] [--device auto|cpu|cuda] [--dtype auto|f32|f16|bf16] [--threads 1] [--capacity 4] \
      [--batch N] [--compile] [--verbose] \
      [--max-connections 64] [--socket-timeout 30] [--secret S | env BLTEDGE_POOL_SECRET]

GET /health      200 {"version":1,"status":"ok","models":[...],"modes":[...],"busy":n,"capacity":c,"device":"cpu",
                      "running":r,"queued":q,"batch":b,"dtype":"float32"}
POST /v1/decode  200 text/event-stream (chunked): `bytes` events, then one `done` or `error` event; or, before
                 streaming, a JSON {"error":{"code","message"}}: 400 invalid_request / unsupported_version /
                 unsupported_mode, 404 model_not_found, 503 busy (retry-after: 1).
Decodes are batched (batch.py): up to --batch of them per model run together, sharing every forward pass; the
rest of the --capacity admitted wait in one first-come line; beyond capacity the answer is 503 busy.
A client that disconnects stops its decode at once (the socket is polled before every pass) and frees its slot.
Every socket has a timeout (a client that neither sends nor reads is dropped); connections beyond
--max-connections are closed at once; with a secret, every request must carry it as `x-pool-secret` (else 401).
"""
from ..train import cpu  # noqa: F401  (OpenMP passive waiting and malloc thresholds, before torch loads)

import argparse
import base64
import hmac
import json
import os
import re
import select
import socket
import sys
import threading


def _threads_before_torch(argv):
    """OpenMP and the BLAS read their thread counts once, when torch loads: --threads sets them now (else Debian's
    generic BLAS keeps a second thread per process spinning beside every small matmul, doubling the CPU a decode
    costs)."""
    n = "1"
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif a.startswith("--threads="):
            n = a.split("=", 1)[1]
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, n)


if __name__ == "__main__":
    _threads_before_torch(sys.argv[1:])
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import torch

from .batch import Batcher
from .decode import MODES, Cancelled
from .passes import PoolModel
from .sampling import utf8_boundary
from .wire import VERSION, WireError, parse_request

MAX_BODY_BYTES = 1 << 20
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class Slots:
    """Counts the decodes running; at capacity a new one is refused (503) rather than queued."""

    def __init__(self, capacity):
        self.capacity, self.busy = capacity, 0
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            if self.busy >= self.capacity:
                return False
            self.busy += 1
            return True

    def give(self):
        with self._lock:
            self.busy -= 1


class PoolServer(ThreadingHTTPServer):
    """One thread per connection, at most max_connections of them (beyond, a connection is closed at once);
    the decodes themselves run on the batcher's one thread, which batches the requests of a model together."""
    daemon_threads = True
    request_queue_size = 128        # the listen backlog (socketserver's default, 5, resets a burst of clients)

    def __init__(self, address, models, device, capacity, verbose=False, max_connections=64, socket_timeout=30.0, secret=None):
        super().__init__(address, Handler)
        self.models, self.device, self.verbose = models, device, verbose
        self.slots = Slots(capacity)
        self.batcher = Batcher(models)
        self.connections = threading.BoundedSemaphore(max_connections)
        self.socket_timeout, self.secret = socket_timeout, secret

    def process_request(self, request, client_address):
        if not self.connections.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()

    def handle_error(self, request, client_address):
        # a client that drops its keep-alive connection (the router, the bench) is routine, not a traceback
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def health(self):
        running, queued = self.batcher.counts
        return {"version": VERSION, "status": "ok", "models": list(self.models), "modes": list(MODES),
                "busy": self.slots.busy, "capacity": self.slots.capacity, "device": self.device,
                "running": running, "queued": queued, "batch": next(iter(self.models.values())).slots,
                "dtype": str(next(iter(self.models.values())).dtype).replace("torch.", "")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive for JSON answers; SSE streams use chunked encoding
    server_version = "bltedge-pool/1"

    def setup(self):
        self.timeout = self.server.socket_timeout      # StreamRequestHandler applies it to the socket
        super().setup()

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _authorized(self):
        """With a secret, every request must carry it (compared in constant time); else 401, connection closed."""
        secret = self.server.secret
        if not secret or hmac.compare_digest(self.headers.get("x-pool-secret", "").encode(), secret.encode()):
            return True
        self.close_connection = True
        self._json(401, {"error": {"code": "unauthorized", "message": "x-pool-secret is missing or wrong"}})
        return False

    # --- routes -------------------------------------------------------------------------------------

    def do_GET(self):
        if not self._authorized():
            return
        path = urlsplit(self.path).path
        if path == "/health":
            self._json(200, self.server.health())
        elif path == "/v1/decode":
            self._json(405, {"error": {"code": "method_not_allowed", "message": "POST /v1/decode"}})
        else:
            self._not_found(path)

    def do_POST(self):
        if not self._authorized():
            return
        path = urlsplit(self.path).path
        body = self._read_body()
        if body is None:
            return
        if path == "/health":
            return self._json(405, {"error": {"code": "method_not_allowed", "message": "GET /health"}})
        if path != "/v1/decode":
            return self._not_found(path)
        try:
            request, model = parse_request(body, self.server.models, MODES)
        except WireError as e:
            return self._json(e.status, e.body())
        slots = self.server.slots
        if not slots.take():
            return self._json(503, {"error": {"code": "busy", "message": f"{slots.capacity} decodes are running; retry"}},
                              {"retry-after": "1"})
        released = []

        def release():      # once: when the decode is done (before its done event, which a client may act on) or failed
            if not released:
                released.append(True)
                slots.give()
        try:
            self._stream(request, model, release)
        finally:
            release()

    # --- the stream ---------------------------------------------------------------------------------

    def _stream(self, request, model, release):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-accel-buffering", "no")
        self.end_headers()
        try:
            try:
                for event in self.server.batcher.stream(model, request, self._client_gone):
                    if event[0] == "bytes" and event[2] is not None:
                        # with log-probabilities, in pieces that keep each event well under the edge's 64 KiB bound
                        data, records, i = event[1], event[2], 0
                        while i < len(data):
                            end = len(data) if i + 32 >= len(data) else max(i + 1, utf8_boundary(data, i + 32))
                            self._event("bytes", {"bytesBase64": base64.b64encode(data[i:end]).decode("ascii"), "logprobs": records[i:end]})
                            i = end
                    elif event[0] == "bytes":
                        self._event("bytes", {"bytesBase64": base64.b64encode(event[1]).decode("ascii")})
                    elif event[0] == "prompt":
                        self._event("bytes", {"bytesBase64": "", "promptLogprobs": event[1]})
                    else:
                        release()
                        self._event("done", {"finishReason": event[1], "stats": event[2]})
            except (Cancelled, *CLIENT_GONE):
                raise
            except Exception as e:      # a bug or a device failure: the stream still ends with one error event
                self.log_error("decode failed: %r", e)
                self._event("error", {"code": "internal", "message": "the decode failed"})
            self._chunk(b"")
        except (Cancelled, *CLIENT_GONE):
            self.close_connection = True

    def _event(self, kind, fields):
        data = json.dumps({"version": VERSION, "type": kind, **fields}, separators=(",", ":"))
        self._chunk(f"event: {kind}\ndata: {data}\n\n".encode("utf-8"))

    def _chunk(self, payload):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def _client_gone(self):
        """True once the client closed its end: the socket turns readable with nothing to read (or errors).
        Polled before every pass, so a disconnect stops the decode within one pass even while no bytes
        are being written (a write to a closed socket may only fail on the second try)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # --- plain answers ------------------------------------------------------------------------------

    def _read_body(self):
        length = self.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self.close_connection = True     # the body, if any, is left unread
            status = 413 if length and length.isdigit() else 400
            self._json(status, {"error": {"code": "invalid_request", "param": "body",
                                          "message": f"a JSON body with a content-length of at most {MAX_BODY_BYTES} bytes"}})
            return None
        return self.rfile.read(int(length))

    def _not_found(self, path):
        self._json(404, {"error": {"code": "not_found", "message": f"no route {path}; use GET /health or POST /v1/decode"}})

    def _json(self, status, obj, headers=None):
        payload = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


def pick_device(name):
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device is available")
    return name


def default_model_dir():
    """The service's default model directory, read from src/config.ts (DEFAULT_MODEL), so the two pools and
    the Worker start on the same model."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "src", "config.ts")
    try:
        with open(path, encoding="utf-8") as f:
            m = re.search(r'export const DEFAULT_MODEL = "([^"]+)"', f.read())
    except OSError:
        m = None
    if not m:
        sys.exit(f"--models not given and no DEFAULT_MODEL found in {path}: name the model directories")
    return os.path.join(root, "models", m.group(1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=None,
                    help="comma-separated model directories (default: the service's default model, DEFAULT_MODEL in src/config.ts)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8790, help="0 picks a free port (printed)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--capacity", type=int, default=4, help="decodes admitted at once; more get 503 busy")
    ap.add_argument("--batch", type=int, default=0, help="decodes per model run together (default: capacity); the rest wait")
    ap.add_argument("--dtype", choices=("auto", "f32", "f16", "bf16"), default="auto",
                    help="weights and caches (auto: f32 on the CPU, bf16 or f16 on CUDA)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the layer steps where torch has it (2.x)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    ap.add_argument("--max-connections", type=int, default=64, help="connections at once; more are closed at once")
    ap.add_argument("--socket-timeout", type=float, default=30.0, help="seconds a connection may stay silent")
    ap.add_argument("--secret", default=os.environ.get("BLTEDGE_POOL_SECRET"),
                    help="required as x-pool-secret on every request (default: $BLTEDGE_POOL_SECRET; none: open)")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    device = pick_device(args.device)
    models = {}
    for path in filter(None, (p.strip() for p in (args.models or default_model_dir()).split(","))):
        m = PoolModel(path, device, max(1, args.batch or args.capacity), args.dtype)
        if args.compile and not m.compile():
            print(f"--compile: torch {torch.__version__} has no torch.compile; running eagerly", file=sys.stderr)
        if m.id in models:
            sys.exit(f"--models: two models are named {m.id}")
        models[m.id] = m
    if not models:
        sys.exit("--models: no model given")
    server = PoolServer((args.host, args.port), models, device, max(1, args.capacity), args.verbose,
                        max(1, args.max_connections), args.socket_timeout, args.secret or None)
    host, port = server.server_address[:2]
    print(f"pool worker listening on http://{host}:{port} (device {device}; models {', '.join(models)})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

"""Continuous batching: one thread runs every model call, and the requests running on a model share them. A
sweep goes through the calls in the order a byte needs them (entropy, encoder, latents, decoder): each call runs
once for every request waiting on it, and those requests advance at once to their next call, which may come later
in the same sweep. So requests in step (AR bytes, draft rows, denoising passes) share one call per component, and
a request joins or leaves between sweeps. Each request has its own stops, cancellation and stats (decode.Decode).

A request holds one of the model's cache slots while it runs; requests beyond the slots wait in one first-come line.
"""
import queue
import threading
import time
from collections import deque

import torch

from .decode import Cancelled, Decode
from .passes import KINDS

_END = object()
POLL_S = 0.01          # how often a running request's client is asked whether it is still there
FLUSH_S = 0.02         # a stream's bytes go to its handler at most this often (the first ones and the end at once):
                       # waking a handler thread per byte costs the batching thread more than the byte
SHORT_OP = 16           # a call takes ops of one row (decoding steps), or of 2..SHORT_OP (blocks, drafts), or longer ones


def _rows(op):
    return max(len(op.ids), len(op.reads), len(op.starts))


class _Job:
    def __init__(self, model, request, cancelled):
        self.model, self.request, self._cancelled = model, request, cancelled
        self.events = queue.SimpleQueue()
        self.stopped = False            # the handler stopped reading (its client went away)
        self.decode = self.op = None
        self._polled = 0.0
        self.pending = b""              # bytes not yet handed to the handler
        self.pending_lp = None          # their log-probability records, when the request asked for them
        self.flushed = None             # when bytes were last handed over (None: never)

    def emit(self, event):
        """A Decode event: bytes are held for the next flush; done goes out at once, after them."""
        if event[0] == "bytes":
            self.pending += event[1]
            if event[2] is not None:
                self.pending_lp = (self.pending_lp or []) + event[2]
        elif event[0] == "prompt":
            self.events.put(event)
        else:
            self.flush()
            self.events.put(event)

    def flush(self, now=None):
        if self.pending:
            self.events.put(("bytes", self.pending, self.pending_lp))
            self.pending, self.pending_lp = b"", None
            self.flushed = now if now is not None else time.monotonic()

    def cancelled(self):
        return self.stopped or self._cancelled()

    def gone(self):
        """cancelled(), asking the client's socket at most every POLL_S (a poll is a system call)."""
        now = time.monotonic()
        if self.stopped or now - self._polled < POLL_S:
            return self.stopped
        self._polled = now
        return self._cancelled()


class Batcher:
    """Runs the decodes of every model on one thread; stream() is called from the HTTP handlers' threads."""

    def __init__(self, models):
        self.models = models
        self._cond = threading.Condition()
        self._line = deque()
        self._running = []
        self._admitting = False
        self._threads = torch.get_num_threads()
        threading.Thread(target=self._loop, name="batcher", daemon=True).start()

    @property
    def counts(self):
        """(running, queued) for /health."""
        with self._cond:
            return len(self._running), len(self._line)

    def stream(self, model, request, cancelled):
        """Queues a request and yields its events as they come: ("bytes", b) ..., ("done", reason, stats). Raises
        Cancelled when it was cancelled, or the decode's exception. Closing the generator cancels the request."""
        job = _Job(model, request, cancelled)
        with self._cond:
            self._line.append(job)
            self._cond.notify()
        try:
            while True:
                event = job.events.get()
                # bytes that queued up while the client was being written to go out as one event
                while event[0] == "bytes" if isinstance(event, tuple) else False:
                    try:
                        more = job.events.get_nowait()
                    except queue.Empty:
                        break
                    if not (isinstance(more, tuple) and more[0] == "bytes"):
                        yield event
                        event = more
                        break
                    event = ("bytes", event[1] + more[1], None if event[2] is None else event[2] + more[2])
                if event is _END:
                    return
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            job.stopped = True

    # --- the batching thread ------------------------------------------------------------------------------

    def _loop(self):
        torch.set_num_threads(self._threads)        # OpenMP's thread count is per thread: the main thread's setting
        while True:
            with self._cond:
                self._admit()
                while not self._running:
                    self._cond.wait()
                    self._admit()
            self._sweep()

    def _admit(self):
        """Starts queued requests, first come first served, while their model has a free slot."""
        if self._admitting:                 # a request that ended as it started: the loop below goes on
            return
        self._admitting = True
        waiting = deque()
        while self._line:
            job = self._line.popleft()
            if job.gone():                  # its client left while it waited
                job.events.put(Cancelled())
                continue
            slot = job.model.take_slot()
            if slot is None:
                waiting.append(job)
                continue
            job.decode = Decode(job.model, slot, job.request, job.gone, job.emit)
            job.slot = slot
            self._running.append(job)
            self._advance(job, None)
        self._line = waiting
        self._admitting = False

    def _sweep(self):
        for job in list(self._running):
            if job.gone():
                self._end(job, Cancelled())
        for kind in KINDS:
            for model in self.models.values():
                jobs = [j for j in self._running if j.model is model and j.op is not None and j.op.kind == kind]
                # rows are padded to the longest op of a call: single rows, blocks and prompt chunks run apart
                for group in ([j for j in jobs if _rows(j.op) == 1], [j for j in jobs if 1 < _rows(j.op) <= SHORT_OP],
                              [j for j in jobs if _rows(j.op) > SHORT_OP]):
                    if group:
                        self._call(model, kind, group)
        now = time.monotonic()
        for job in self._running:
            if job.pending and (job.flushed is None or now - job.flushed >= FLUSH_S):
                job.flush(now)

    def _call(self, model, kind, jobs):
        try:
            results = model.run(kind, [j.op for j in jobs])
        except Exception as e:              # a bug or a device failure: every request in the call fails
            for j in jobs:
                self._end(j, e)
            return
        for j, res in zip(jobs, results):
            self._advance(j, res)

    def _advance(self, job, result):
        """Sends a call's result to the request and takes its next call (or ends it)."""
        try:
            job.op = job.decode.step(result)
        except Exception as e:              # Cancelled, or a failure of this request alone
            self._end(job, e)
            return
        if job.op is None:
            self._end(job, _END)

    def _end(self, job, final):
        if job not in self._running:
            return
        job.decode.close()
        job.op = None
        if final is _END:
            job.flush()
        job.events.put(final)
        with self._cond:
            self._running.remove(job)
            job.model.give_slot(job.slot)
            self._admit()

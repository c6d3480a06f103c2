"""The four decoding modes of docs/design.md §3 on the PyTorch model, each a generator with the same structure as its
TS twin in src/engine/decode/ (ar.ts, blt-d.ts + denoise.ts, blt-s.ts, blt-dv.ts + speculate.ts). A mode yields the
model calls it needs (Ops, whose results come back through send: `x = yield from seq.method()`) and its committed
bytes (a `bytes` object). `Decode` turns one request into events (bytes..., then done) around its mode, one call at
a time, so that the batching scheduler (batch.py) can run many requests' calls together; `decode` runs one alone.
"""
import time

from ..train.model import BOS_ID, MASK_ID
from .constrain import END_OUTPUT, Guide, logprob_of
from .passes import MAX_ROWS, Op
from .sampling import OutputFramer, Sampler, argmax
from .sequence import Counters, Sequence
from .wire import CONTRACT


class Cancelled(Exception):
    """The client went away: stop decoding."""


# The work budget of src/engine/decode/work-budget.ts, charged the same way so both backends make the same
# choices: ROWS_PER_BYTE decoder rows per byte of maxNewBytes plus one largest block; a draft is charged its worst
# case before it is made (a verified row or a single-row draft pass costs ROW_COST_WHOLE), and one that does not
# fit becomes an AR step.
# MAX_BLOCK: the largest block, draft or passes per block the request contract allows (as context.ts's).
ROWS_PER_BYTE, ROW_COST_WHOLE = 64, 8
MAX_BLOCK = max(CONTRACT["fields"][f]["max"] for f in ("block_size", "draft_length", "max_steps_per_block"))


class WorkBudget:
    def __init__(self, max_new_bytes):
        self.spent, self.limit = 0, ROWS_PER_BYTE * max_new_bytes + MAX_BLOCK * (MAX_BLOCK + ROW_COST_WHOLE)

    def take(self, rows):
        if self.spent + rows > self.limit:
            return False
        self.spent += rows
        return True

    def take_block_draft(self, B, steps):
        return self.take(B * steps + ROW_COST_WHOLE * B)

    def take_draft(self, k):
        return self.take(ROW_COST_WHOLE * (2 * k - 1))


class ModeContext:
    """What every mode receives: the sequence, the sampler, the knobs, the byte budget, the counters."""

    def __init__(self, seq, sampler, knobs, budget, cancelled, work, guide=None, top=None):
        self.seq, self.sampler, self.knobs, self.budget, self.work = seq, sampler, knobs, budget, work
        self.cancelled = cancelled
        self.drafted = self.accepted = 0
        # structured output (constrain.py) and log-probabilities: the guide, and each committed byte's record
        self.guide = guide
        self.top = top or 0
        self.lp = [] if top is not None else None
        self.block_lp = None

    def note(self, row, b):
        if self.lp is not None:
            self.lp.append(logprob_of(row, b, self.top))

    def check(self):
        if self.cancelled():
            raise Cancelled()


# --- AR -----------------------------------------------------------------------------------------------

def ar_step(c):
    """One byte from the model's next-byte prediction (one pass of each component, global once per patch); under a
    constraint the automaton's pick, which may end the output (an empty result)."""
    g = c.guide
    if g:
        b = g.pick(c.sampler, c.seq.next_logits, g.state)
        if b == END_OUTPUT:
            g.finished = True
            return b""
    else:
        b = c.seq.next_argmax() if c.sampler.greedy else c.sampler.pick(c.seq.next_logits)
    c.note(c.seq.next_logits, b)
    if g:
        g.commit([b])
    yield from c.seq.append_clean([b])
    return bytes([b])


def decode_ar(c):
    while c.budget() > 0:
        yield (yield from ar_step(c))


# --- BLT-D --------------------------------------------------------------------------------------------

def decode_blt_d(c):
    """Encoder and global once per block; the block is filled by a few decoder passes, then committed
    (Algorithm 1: re-patched by one entropy call, its last patch forced to end where the block ends)."""
    while c.budget() > 0:
        B = c.knobs["blockSize"]
        # close the open patch: one pooling + global call gives the latent the block reads
        q = yield from c.seq.close_patch()
        # fill the block by diffusion (its filled prefix from byte states, or the paper's token inputs: blockPrefix)
        ids, _, encoded = yield from fill_block(c, q, B)
        # commit it (the bytes not encoded while filling through the encoder); its decoder rows ride in the next
        # block's first pass (under a constraint the block may end early, where the output ends)
        g = c.guide
        n = g.block_len if g else B
        if n > 0:
            yield from c.seq.append_block(ids[:n], c.knobs.get("blockCommit", "entropy"), min(encoded, n))
        if c.lp is not None:
            c.lp.extend(c.block_lp[:n])
        if g:
            g.commit(ids[:n])
            if n < B:
                g.finished = True
        yield bytes(ids[:n])


def fill_block(c, q, B, first=None):
    """B MASK bytes at the sequence end (byte 0 given as `first`: BLT-DV), repeated decoder passes; each pass unmasks
    the positions whose top probability >= threshold (always the most confident one), or with an entropy bound the
    lowest-entropy positions whose summed entropy stays <= the bound (always one); all that remain on the
    min(maxStepsPerBlock, B)-th pass. A filled byte is never re-masked. With blockPrefix "states" (the default, set by
    wire.py), before each pass the block's filled prefix goes through the encoder and its rows start from those
    byte states. Returns the bytes,
    per byte the distribution it was drawn from, and how many bytes from the block's start hold encoder states."""
    k = c.knobs
    max_steps, bound = min(k["maxStepsPerBlock"], B), k["entropyBound"]
    ids, dists = [MASK_ID] * B, [None] * B
    if first is not None:
        ids[0] = first
    passes = encoded = 0
    # under a constraint (denoise.ts): bytes commit as the automaton accepts them left to right; the frontier f is
    # drawn under the mask on every pass, a byte beyond it is checked when the frontier reaches it (redrawn under the
    # mask if its row is from this pass, else masked again); BLT-D (no `first`) may end the output at the frontier
    g, is_d = c.guide, first is None
    c.block_lp = [None] * B if is_d and c.lp is not None else None
    st, f, ended = [None] * (B + 1), 0, False

    def draw_at_frontier(logits):
        nonlocal ended
        p, e = g.distribution(c.sampler, logits[f], st[f], with_end=is_d)
        b = g.draw(c.sampler, p, e)
        if b == END_OUTPUT:
            ended = True
            return False
        ids[f], dists[f] = b, p
        if c.block_lp is not None:
            c.block_lp[f] = logprob_of(logits[f], b, c.top)
        return True

    def advance(logits, need):
        nonlocal f
        while f < B and ids[f] != MASK_ID:
            nx = st[f].advance(ids[f])
            if nx is not None:
                st[f + 1] = nx
                f += 1
                continue
            if logits is not None and f in need:
                if not draw_at_frontier(logits):
                    return
                continue
            ids[f] = MASK_ID
            return

    if g:
        st[0] = g.state
        advance(None, ())
    while MASK_ID in ids and not ended:
        c.check()
        if k["blockPrefix"] == "states":
            p = encoded
            while p < (f if g else B) and ids[p] != MASK_ID:
                p += 1
            if p > encoded:
                yield from c.seq.encode_ahead(c.seq.n + encoded, ids[encoded:p])
                encoded = p
        logits = (yield from c.seq.denoise(q, ids, encoded)).cpu()              # (B, 256): one read per pass
        passes += 1
        masked = [j for j in range(B) if ids[j] == MASK_ID]
        logp = logits[masked].double().log_softmax(-1)
        conf = logp.max(-1).values.exp().tolist()
        ent = (-(logp.exp() * logp).sum(-1)).tolist()
        if passes >= max_steps:
            pick = masked
        elif bound is not None:
            order = sorted(range(len(masked)), key=lambda i: ent[i])             # stable: ties by position
            pick, total = [], 0.0
            for r, i in enumerate(order):
                if r > 0 and total + ent[i] > bound:
                    break
                total += ent[i]
                pick.append(masked[i])
        else:
            best = max(range(len(masked)), key=lambda i: conf[i])                # first of equals
            pick = [j for i, j in enumerate(masked) if conf[i] >= k["threshold"] or i == best]
        if g:
            pick = sorted(set(pick) | {f})         # f < B: a masked byte remains, every byte before f is filled
        need = set(masked)
        for j in sorted(pick):
            if ids[j] != MASK_ID:
                continue
            if g and j == f:
                if not draw_at_frontier(logits):
                    break
                advance(logits, need)
                if ended:
                    break
                continue
            dists[j] = c.sampler.distribution(logits[j])
            ids[j] = argmax(dists[j]) if c.sampler.greedy else c.sampler.draw(dists[j])
            if c.block_lp is not None:
                c.block_lp[j] = logprob_of(logits[j], ids[j], c.top)
    if g:
        g.block_len = f if ended else B
        return ids, dists, min(encoded, f)
    return ids, dists, encoded


# --- BLT-S and BLT-DV: draft, verify, accept ----------------------------------------------------------

def decode_blt_s(c):
    """Where AR would stop at a patch boundary to run the global model, the decoder keeps drafting k bytes
    on the newest latent it has; one full forward verifies them."""
    seq = c.seq
    while c.budget() > 0:
        k = min(c.knobs["draftLength"], c.budget())
        if k < 2 or not seq.next_starts_patch() or not c.work.take_draft(k):
            yield (yield from ar_step(c))
            continue
        # draft: byte 0 is AR's own; bytes 1..k-1 come from the decoder alone, reading the latent AR's rows of this
        # patch read (past the next patch boundary it is stale: verification catches it)
        n0 = seq.n
        read = yield from seq.draft_read()
        g = c.guide
        if g:
            # under a constraint: each byte drawn at the automaton's state after the ones before; a drafted end stops
            # the draft and is verified as one more drafted outcome (speculate.ts)
            b0 = g.pick(c.sampler, seq.next_logits, g.state)
            if b0 == END_OUTPUT:
                g.finished = True
                return
            ids, dists, ends, here, end_drafted = [b0], [None], [0.0], g.state.advance(b0), False
            for i in range(1, k):
                c.check()
                logits = yield from seq.draft_row(n0 + i - 1, ids[i - 1], read)
                p, e = g.distribution(c.sampler, logits, here)
                d = g.draw(c.sampler, p, e)
                dists.append(p)
                ends.append(e)
                if d == END_OUTPUT:
                    k, end_drafted = i, True
                    break
                ids.append(d)
                here = here.advance(d)
            c.drafted += k - 1
            yield (yield from verify_and_accept(c, ids, dists, True, n0 + k - 1, (n0 + k - 1, read), ends, end_drafted))
            continue
        dists = [c.sampler.distribution(seq.next_logits)]
        ids = [argmax(dists[0]) if c.sampler.greedy else c.sampler.draw(dists[0])]
        for i in range(1, k):
            c.check()
            logits = yield from seq.draft_row(n0 + i - 1, ids[i - 1], read)
            dists.append(c.sampler.distribution(logits))
            ids.append(argmax(dists[-1]) if c.sampler.greedy else c.sampler.draw(dists[-1]))
        c.drafted += k - 1
        # verify with one full forward, accept the agreeing prefix (the drafted bytes but the last already went
        # through the encoder, whose states do not depend on latents; and through the decoder: rows that read the
        # draft's latent in verification too are not run again)
        yield (yield from verify_and_accept(c, ids, dists, True, n0 + k - 1, (n0 + k - 1, read)))


def decode_blt_dv(c):
    """At a patch boundary BLT-D drafts a block by diffusion; one full forward with the causal path
    verifies it and the agreeing prefix is kept."""
    seq = c.seq
    while c.budget() > 0:
        B = min(c.knobs["blockSize"], c.budget())
        g = c.guide
        # (under a constraint a block may take B passes: each accepts at least one byte)
        if B < 2 or not seq.next_starts_patch() or not c.work.take_block_draft(B, B if g else min(c.knobs["maxStepsPerBlock"], B)):
            yield (yield from ar_step(c))
            continue
        # byte 0 is AR's own: the row before the block predicts it already (drawn as AR draws it, so it is exact)
        if g:
            first = g.pick(c.sampler, seq.next_logits, g.state)
            if first == END_OUTPUT:
                g.finished = True
                return
        else:
            first = seq.next_argmax() if c.sampler.greedy else c.sampler.pick(seq.next_logits)
        # AR would close the patch here too: its latent is what the block reads
        q = yield from seq.close_patch()
        # draft bytes 1..B-1 by diffusion, given byte 0 (prefix states by default: better drafts, the output AR's)
        ids, dists, encoded = yield from fill_block(c, q, B, first)
        k = max(1, g.block_len) if g else B          # (under a constraint a draft stops where no byte is allowed)
        c.drafted += k - 1
        # verify with the AR path, accept the agreeing prefix (the prefix encoded while drafting is not encoded again)
        yield (yield from verify_and_accept(c, ids[:k], dists[:k], True, seq.n + min(encoded, k)))


def verify_and_accept(c, ids, dists, first_is_exact, encoded_up_to=0, drafted=None, ends=None, end_drafted=False):
    """Appends the drafts as clean bytes (one pass of each component gives the model's own prediction at
    every draft position) and keeps the longest agreeing prefix plus the model's byte at the first
    disagreement. Greedy: agreement is equality with the argmax (output = AR's). Sampling: the speculative
    sampling rule, so the output is distributed as AR sampling. Returns the committed bytes. Under a constraint
    (c.guide) the constrained versions of both, ending as one more outcome (speculate.ts): `ends` are the drafts'
    end probabilities, `end_drafted` a drafted end after the bytes."""
    seq, s = c.seq, c.sampler
    n0 = seq.n
    if c.guide:
        return (yield from _verify_guided(c, ids, dists, first_is_exact, encoded_up_to, drafted, ends, end_drafted))
    yield from seq.append_clean(ids, encoded_up_to, drafted)
    rows = seq.logits_of(n0 - 1, n0 + len(ids) - 1)
    best = rows.argmax(-1).tolist() if s.greedy else None                       # one read for every row
    rows = rows.cpu() if not s.greedy else rows
    for i, d in enumerate(ids):
        if i == 0 and first_is_exact:
            continue
        if s.greedy:
            ok = best[i] == d
        else:
            p, q = s.distribution(rows[i]), dists[i]
            ok = s.uniform() < min(1.0, float(p[d]) / max(float(q[d]), 1e-30))
        if ok:
            c.accepted += 1
            continue
        # the first disagreement: the model's own byte replaces the draft from here on
        if s.greedy:
            fix = best[i]
        else:
            residual = (p - q).clamp(min=0)
            fix = s.draw(residual / residual.sum()) if residual.sum() > 0 else s.draw(p)
        seq.truncate(n0 + i)
        yield from seq.append_clean([fix])
        out = ids[:i] + [fix]
        if c.lp is not None:
            for j, b in enumerate(out):
                c.note(rows[j], b)
        return bytes(out)
    if c.lp is not None:
        for j, b in enumerate(ids):
            c.note(rows[j], b)
    return bytes(ids)


def _verify_guided(c, ids, dists, first_is_exact, encoded_up_to, drafted, ends, end_drafted):
    seq, s, g = c.seq, c.sampler, c.guide
    n0, k = seq.n, len(ids)
    yield from seq.append_clean(ids, encoded_up_to, drafted)
    rows = seq.logits_of(n0 - 1, n0 + k).cpu()           # row i predicts draft position i (row k: a drafted end)
    out, st = list(ids), [g.state]

    def done(n):
        for j in range(n):
            c.note(rows[j], out[j])
        g.commit(out[:n])
        return bytes(out[:n])

    for i in range(k + (1 if end_drafted else 0)):
        d = ids[i] if i < k else END_OUTPUT
        here = st[i]
        if i == 0 and first_is_exact:
            st.append(here.advance(d))
            continue
        row = rows[i]
        if s.greedy:
            choice = g.greedy(row, here)
            ok = choice == d
        else:
            p, p_end = g.distribution(s, row, here)
            q, q_end = dists[i], (ends[i] if ends else 0.0)
            ok = s.uniform() < (min(1.0, p_end / max(q_end, 1e-30)) if d == END_OUTPUT else min(1.0, float(p[d]) / max(float(q[d]), 1e-30)))
        if ok and d == END_OUTPUT:
            g.finished = True
            return done(k)
        if ok:
            c.accepted += 1
            st.append(here.advance(d))
            continue
        if s.greedy:
            fix = choice
        else:
            residual, r_end = (p - q).clamp(min=0), max(0.0, p_end - q_end)
            z = float(residual.sum()) + r_end
            fix = g.draw(s, residual / z, r_end / z) if z > 0 else g.draw(s, p, p_end)
        seq.truncate(n0 + i)
        if fix == END_OUTPUT:
            g.finished = True
            return done(i)
        yield from seq.append_clean([fix])
        out[i] = fix
        return done(i + 1)
    return done(k)


MODES = {"ar": decode_ar, "blt-d": decode_blt_d, "blt-s": decode_blt_s, "blt-dv": decode_blt_dv}


class Decode:
    """One validated request (wire.py) on a slot of a PoolModel, as a coroutine: step(result) runs it up to its
    next model call and returns that Op (None once it has ended); its events go to emit: ("bytes", b"..."),
    then ("done", finishReason, stats). Raises Cancelled when cancelled() turns true (checked after every
    committed block or byte, and before every denoising pass or draft)."""

    def __init__(self, model, slot, r, cancelled, emit):
        self.model, self.slot, self.emit = model, slot, emit
        self._gen = self._run(r, cancelled)

    def step(self, result=None):
        try:
            return self._gen.send(result)
        except StopIteration:
            return None

    def close(self):
        self._gen.close()

    def _run(self, r, cancelled):
        t0 = time.perf_counter()
        counters = Counters(self.model)
        seq = Sequence(self.model, self.slot, counters)
        out = OutputFramer(r.max_new_bytes, r.stop)
        guide = Guide(r.constraint) if r.constraint else None
        ids = [BOS_ID] + list(r.prompt)
        if r.prompt_logprobs:
            # the prompt with every row's logits read chunk by chunk (the rows `npm run eval` scores): row i predicts
            # prompt byte i; the same calls as one append_clean (it chunks by MAX_ROWS from the start too)
            records = []
            for off in range(0, len(ids), MAX_ROWS):
                chunk = ids[off:off + MAX_ROWS]
                yield from seq.append_clean(chunk)
                rows = seq.logits_of(off, off + len(chunk)).cpu()
                for j in range(len(chunk)):
                    i = off + j                         # row i predicts prompt byte i
                    if i < len(r.prompt):
                        records.append(None if i == 0 else logprob_of(rows[j], r.prompt[i], r.logprobs or 0))
            per = max(16, 24_000 // (48 + 32 * (r.logprobs or 0)))
            for i in range(0, len(records), per):
                self.emit(("prompt", records[i:i + per]))
        else:
            yield from seq.append_clean(ids)
        seq.next_logits.sum().item()                    # the prompt's passes have run (for prefillMs)
        prefill_ms = round((time.perf_counter() - t0) * 1000, 3)
        counters.reset()                                # passes count generation only (as the TS engine's stats)
        s = r.sampling
        c = ModeContext(seq, Sampler(s["temperature"], s["topP"], s["topK"], s["seed"]), r.knobs,
                        lambda: 0 if guide and guide.finished else out.remaining, cancelled, WorkBudget(r.max_new_bytes),
                        guide, r.logprobs)
        taken = 0

        def emit_bytes(b):
            nonlocal taken
            records = None
            if c.lp is not None:
                records = c.lp[taken:taken + len(b)]
                taken += len(b)
            self.emit(("bytes", b, records))
        mode = MODES[r.mode](c)
        result = None
        while True:
            try:
                item = mode.send(result)
            except StopIteration:
                break
            if isinstance(item, Op):
                result = yield item
                continue
            result = None
            emit = out.push(item)
            if emit:
                emit_bytes(emit)
            if out.finish:
                break
            c.check()
        mode.close()
        rest = out.flush()
        if rest:
            emit_bytes(rest)
        stats = {"mode": r.mode, "promptBytes": len(r.prompt), "generatedBytes": len(out.buf),
                 "passes": dict(counters.passes), "draftedBytes": c.drafted, "acceptedBytes": c.accepted,
                 "estBytesMoved": counters.bytes_moved, "wallMs": round((time.perf_counter() - t0) * 1000, 3),
                 "prefillMs": prefill_ms, "kernels": f"torch-{seq.next_logits.device.type}"}
        # a constrained output ends "stop" where its automaton accepted it (and "length" where the limit came first)
        complete = guide is not None and guide.state.accepting and (guide.finished or guide.state.done) and guide.count <= len(out.buf)
        self.emit(("done", "stop" if complete else out.finish or "length", stats))


def decode(model, r, cancelled=lambda: False):
    """Streams one request alone (no batching): yields its events. Needs a free slot on the model."""
    slot = model.take_slot()
    if slot is None:
        raise RuntimeError(f"no free slot on {model.id}")
    events = []
    d = Decode(model, slot, r, cancelled, events.append)
    try:
        op = d.step()
        while True:
            yield from events
            events.clear()
            if op is None:
                return
            op = d.step(model.run(op.kind, [op])[0])
    finally:
        d.close()
        model.give_slot(slot)

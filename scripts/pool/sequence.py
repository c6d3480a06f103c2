"""One request's sequence state on a PoolModel slot, the Python twin of src/engine/decode/sequence.ts: committed
tokens, their patches, the latent each decoder row reads, which patches have latents, and the decoder's logits of
every committed row. Every model call is an Op *yielded* by a generator method (use `yield from`), so that the
batching scheduler (scripts/pool/batch.py) can run one call for many requests; a call's result is sent back.
Passes are counted per component and priced as the weight bytes they read (docs/design.md §4).
"""
import bisect

import torch

from .passes import COMPONENTS, MAX_ROWS, Op


class Counters:
    """Passes per component and the estimated bytes moved, for one request."""

    def __init__(self, model):
        self.cost = model.cost
        self.reset()

    def reset(self):
        self.passes = dict.fromkeys(COMPONENTS, 0)
        self.bytes_moved = 0

    def count(self, component, n=1):
        self.passes[component] += n
        self.bytes_moved += n * self.cost[component]


def starts_patch(i, entropy, current_len, threshold, max_patch_len):
    """Whether the byte at position i (≥ 1) starts a new patch (docs/model.md §5; patcher.ts startsPatch)."""
    return i <= 1 or entropy > threshold or current_len >= max_patch_len


class Sequence:
    """Committed tokens [BOS, prompt..., generated...] on the model's slot `slot`; position n is the next to fill.
    The caches are slot- and position-indexed: a truncation only moves n back, later rows are overwritten."""

    def __init__(self, model, slot, counters):
        self.m, self.slot, self.c = model, slot, counters
        ctx = model.max_positions         # host state for every position a request may reach (ints: cheap)
        self.n = 0
        self.starts = []                    # first position of each patch; patch 0 is BOS
        self.patch_of = [0] * ctx           # patch index of every committed position
        self.read_of = [0] * ctx            # latent read index of every committed decoder row
        self.n_latents = 0                  # patches 0..n_latents−1 have latents (their K/V in the latent cache)
        self.latent_end = [0] * ctx         # end of the bytes each latent was pooled from
        self.latent_lo = [0] * ctx          # the first patch each latent's global row saw (the last ctx bytes' patches)
        self.entropy_at = [0.0] * (ctx + 1)  # H(i): entropy (nats) of the entropy model's prediction for byte i
        self._entropy_pending = None        # (pos0, H's reader) not yet copied into entropy_at
        self._best = None                   # (pos0, end, the argmax reader) of the last clean decoder call
        self.ring = model.ring_bytes
        self.row_logits = torch.zeros(self.ring, 256, device=model.device)   # row i (at i mod ring) predicts byte i + 1
        self.pending_clean_rows = 0         # decoder rows at the end not yet in the decoder's cache (BLT-D)

    @property
    def next_logits(self):
        return self.row_logits[(self.n - 1) % self.ring]

    def logits_of(self, pos0, end):
        """Rows pos0..end−1 of the decoder's logits (end − pos0 ≤ MAX_ROWS + 1), (end − pos0, 256)."""
        return self.row_logits[torch.arange(pos0, end) % self.ring]

    def _store_logits(self, pos0, logits):
        a, b = pos0 % self.ring, pos0 % self.ring + len(logits)
        if b <= self.ring:
            self.row_logits[a:b] = logits
        else:
            self.row_logits[torch.arange(pos0, pos0 + len(logits)) % self.ring] = logits

    def next_argmax(self):
        """The greedy pick for byte n (first of equals): read with the whole batch's picks when row n − 1 came from
        the last clean decoder call."""
        if self._best is not None and self._best[0] <= self.n - 1 < self._best[1]:
            return self._best[2]()[self.n - 1 - self._best[0]]
        return int(self.next_logits.argmax())

    def entropy(self, pos):
        """H(pos); reads the last entropy call's results from the device only when first needed (for the v1
        rule in AR, one step later, after the sampled byte's read has synchronised anyway)."""
        if self._entropy_pending is not None:
            p0, read = self._entropy_pending
            H = read()
            self.entropy_at[p0 + 1:p0 + 1 + len(H)] = H
            self._entropy_pending = None
        return self.entropy_at[pos]

    # --- appending ------------------------------------------------------------------------------------

    def append_clean(self, ids, encoded_up_to=0, drafted=None):
        """Appends tokens at positions n.. exactly as AR decoding processes them one by one: entropy model, patch
        starts, encoder, pooling + global for every patch whose latent a row reads, decoder rows; one call per
        component per chunk of MAX_ROWS (this is also BLT-S / BLT-DV verification). Positions below
        encoded_up_to already hold the encoder's states for these tokens (BLT-S drafted them). drafted = (up_to,
        read) (BLT-S): rows below up_to were run by the decoder while drafting, reading latent `read`, their logits
        stored; the leading ones whose read index is that one are not run again (same inputs, same results)."""
        ids = list(ids)
        for off in range(0, len(ids), MAX_ROWS):
            chunk, pos0 = ids[off:off + MAX_ROWS], self.n
            end = pos0 + len(chunk)
            if end > self.m.max_positions:
                raise RuntimeError(f"a sequence of {self.m.max_positions} positions is full")
            self.entropy(0)                                     # flush the previous call's results
            self._entropy_pending = (pos0, (yield Op("entropy", self.slot, pos0, chunk)))
            self.c.count("entropy")
            for pos in range(pos0, end):
                cur = pos - self.starts[-1] if self.starts else 0
                h = self.entropy_at[pos] if pos == pos0 else self.entropy(pos)     # H(pos0) is from the call before
                if pos == 0 or starts_patch(pos, h, cur, self.m.threshold, self.m.max_patch_len):
                    self.starts.append(pos)
                self.patch_of[pos] = len(self.starts) - 1
            # which latent each row reads; the paper's rule needs a patch's latent at its last byte, so a patch the
            # next byte closes gets its latent (pooling + global) before the decoder rows run
            for pos in range(pos0, end):
                nxt = self.patch_of[pos + 1] != self.patch_of[pos] if pos + 1 < end else None
                self.read_of[pos] = self.read_index(pos, nxt)
            e0 = min(max(pos0, encoded_up_to), end)
            if e0 < end:
                yield Op("encoder", self.slot, e0, chunk[e0 - pos0:])
                self.c.count("encoder")
            yield from self.latents_up_to(self.read_of[end - 1] + 1, end)
            d = pos0                                                    # rows the draft already ran
            while drafted and d < min(end, drafted[0]) and self.read_of[d] == drafted[1]:
                d += 1
            if d > pos0:
                self._best = None
            if d < end:
                logits, best = yield self._decoder_op(d, self.read_of[d:end])
                self.c.count("decoder")
                self._store_logits(d, logits)
                self._best = (d, end, best)
            self.n = end

    def latents_up_to(self, count, end=None):
        """Latents for patches n_latents..count−1 (each complete, the last ending at `end` if no later patch
        starts): one pooling + global call per group of patches whose bytes fit in MAX_ROWS."""
        end = self.n if end is None else end
        end_of = lambda j: self.starts[j + 1] if j + 1 < len(self.starts) else end
        while self.n_latents < count:
            j0 = j1 = self.n_latents
            while j1 < count and j1 - j0 < MAX_ROWS and end_of(j1) - self.starts[j0] <= MAX_ROWS:
                j1 += 1
            j1 = max(j1, j0 + 1)
            for j in range(j0, j1):
                self.latent_end[j] = end_of(j)
                # global row j sees the patches that start inside the training window ending with patch j
                self.latent_lo[j] = bisect.bisect_left(self.starts, end_of(j) - self.m.ctx, 0, j) if end_of(j) > self.m.ctx else 0
            yield Op("latents", self.slot, j0, starts=self.starts[j0:j1], ends=[end_of(j) for j in range(j0, j1)],
                     lo=self.latent_lo[j0:j1])
            self.c.count("global")
            self.n_latents = j1

    def next_starts_patch(self):
        """Whether the byte at position n starts a new patch under entropy patching."""
        return self.starts_at(self.n)

    def starts_at(self, pos):
        """Whether a byte at `pos` (just past the committed or the just-patched bytes) starts a patch."""
        return starts_patch(pos, self.entropy(pos), pos - self.starts[-1], self.m.threshold, self.m.max_patch_len)

    def read_index(self, pos, next_starts):
        """The latent read index of row pos (local.decoder_latents): the paper's rule ("one", "all") reads the
        patch just before the one holding x(pos+1); v1 the patch before the row's own. next_starts None: ask the
        entropy model whether pos + 1 starts a patch (only the paper's rule needs it)."""
        own = self.patch_of[pos]
        if self.m.rule == "v1":
            return own - 1
        if next_starts is None:
            next_starts = self.starts_at(pos + 1)
        return own + (1 if next_starts else 0) - 1

    def draft_read(self):
        """The read index for bytes drafted past position n, where a patch starts (BLT-S): the latent of the patch
        that ends at n − 1, made here if it is not yet (v1 rows read it first at n), the one AR's rows of the new
        patch read. Past the next patch boundary it is stale: verification catches that."""
        yield from self.latents_up_to(len(self.starts))
        return len(self.starts) - 1

    def draft_row(self, pos, token, read):
        """BLT-S drafting: the token at pos through the encoder and one decoder row reading latent `read` (no
        pooling, no global). Returns the logits (256,) of the byte after it."""
        yield Op("encoder", self.slot, pos, [token])
        self.c.count("encoder")
        logits, _ = yield self._decoder_op(pos, [read])
        self.c.count("decoder")
        self.row_logits[pos % self.ring] = logits[0]    # verification re-uses it (append_clean's `drafted`)
        return logits[0]

    def encode_ahead(self, pos, ids):
        """Prefix states: bytes a BLT-D block has filled (final, never re-masked) through the encoder at pos.., before
        they are committed; the commit then skips them (append_block's `encoded`)."""
        yield Op("encoder", self.slot, pos, list(ids))
        self.c.count("encoder")

    def _decoder_op(self, pos0, reads, block=(), prefix=0):
        """A decoder call's op: rows pos0.. reading latents lo..reads[i] (one latent under "one"; else from the first
        patch the latent's global row saw); the last len(block) rows a BLT-D block."""
        if self.m.rule == "one":
            lo = [max(0, r) for r in reads]
        else:
            lo = [self.latent_lo[r] if r >= 0 else 0 for r in reads]
        return Op("decoder", self.slot, pos0, ids=list(block), reads=list(reads), lo=lo, prefix=prefix)

    def truncate(self, n):
        """Rolls back to the first n tokens (BLT-S / BLT-DV rejection)."""
        self.entropy(0)
        self.n = n
        self._best = None
        while self.starts and self.starts[-1] >= n:
            self.starts.pop()
        self.n_latents = min(self.n_latents, len(self.starts))
        while self.n_latents > 0 and self.latent_end[self.n_latents - 1] > n:
            self.n_latents -= 1

    # --- BLT-D: committing blocks ---------------------------------------------------------------------

    def close_patch(self):
        """Closes the open patch (forces a boundary at n) and computes every missing latent; returns q, the index
        of the patch a block starting at n becomes. Under the paper's rule the row before the boundary now ends
        its patch and reads its own patch's latent: if it read another, it is re-run in the next block's first
        pass (pending_clean_rows)."""
        last = self.n - 1
        if last >= 0:
            read = self.read_index(last, True)
            if self.read_of[last] != read:
                self.read_of[last] = read
                self.pending_clean_rows = max(self.pending_clean_rows, 1)
        yield from self.latents_up_to(len(self.starts))
        return len(self.starts)

    def append_block(self, ids, commit="entropy", encoded=0):
        """Commits a filled block at positions n.. (after close_patch, so n starts a patch). "entropy" (the paper's
        Algorithm 1): one entropy call re-patches the block, only its final patch forced to end at the block's end;
        "block": the whole block is one patch (a named variant). Then one encoder call over the bytes from `encoded`
        on (the first ones already hold their states: prefix states); the block's decoder rows ride in the next
        block's first denoising pass (pending_clean_rows)."""
        ids, pos0 = list(ids), self.n
        end = pos0 + len(ids)
        if end > self.m.max_positions:
            raise RuntimeError(f"a sequence of {self.m.max_positions} positions is full")
        self.starts.append(pos0)
        self.patch_of[pos0] = len(self.starts) - 1
        if commit == "entropy":
            self.entropy(0)
            self._entropy_pending = (pos0, (yield Op("entropy", self.slot, pos0, ids)))
            self.c.count("entropy")
            for pos in range(pos0 + 1, end):
                if starts_patch(pos, self.entropy(pos), pos - self.starts[-1], self.m.threshold, self.m.max_patch_len):
                    self.starts.append(pos)
                self.patch_of[pos] = len(self.starts) - 1
        else:
            for pos in range(pos0, end):
                self.patch_of[pos] = len(self.starts) - 1
        for pos in range(pos0, end):
            self.read_of[pos] = self.read_index(pos, pos + 1 == end or self.patch_of[pos + 1] != self.patch_of[pos])
        if encoded < len(ids):
            yield Op("encoder", self.slot, pos0 + encoded, ids[encoded:])
            self.c.count("encoder")
        self.n = end
        self.pending_clean_rows = min(self.pending_clean_rows + len(ids), end)

    def denoise(self, q, ids, prefix=0):
        """One BLT-D denoising pass over the block `ids` (MASK or bytes) at positions n.., the start of patch q (its
        rows read latent q−1; the first `prefix` start from their byte states, made by encode_ahead); the pending
        clean rows run first in the same call (in a call of their own when they and the block exceed MAX_ROWS).
        Returns the block's logits (B, 256); row k predicts byte n + k."""
        s, B, clean = self.n, len(ids), self.pending_clean_rows
        reads = self.read_of[s - clean:s]
        self.pending_clean_rows = 0
        if clean and clean + B > MAX_ROWS:
            yield self._decoder_op(s - clean, reads)
            self.c.count("decoder")
            clean, reads = 0, []
        logits, _ = yield self._decoder_op(s - clean, reads + [q - 1] * B, list(ids), prefix)
        self.c.count("decoder")
        return logits[clean:]

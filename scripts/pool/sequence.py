"""The PyTorch model as the pool worker runs it, and one request's sequence state. Every pass is a full
recomputation over the committed tokens (no KV caches: correctness over speed); passes are counted per
component and priced as the weight bytes they read (fast-blt.md §4). Semantics follow docs/model.md and
the TypeScript engine's src/engine/decode/sequence.ts.
"""
import json
import os

import torch

from ..train import safetensors_io
from ..train.model import BLT, NoisyBlocks, Patches

MAX_BLOCK = 64          # largest block or draft a request may ask for (as src/engine/decode/context.ts)
COMPONENTS = ("entropy", "encoder", "global", "decoder")


class PoolModel:
    """One checkpoint, loaded f32 on a device. `ctx` (max_seq_len) bounds BOS + prompt + new bytes."""

    def __init__(self, path, device):
        file = path if path.endswith(".safetensors") else os.path.join(path, "model.safetensors")
        tensors, meta = safetensors_io.load(file)
        self.cfg = json.loads(meta["config"])
        self.id = os.path.basename(os.path.normpath(os.path.dirname(file)))
        self.device = torch.device(device)
        self.net = BLT(self.cfg)
        self.net.load_state_dict(tensors)
        self.net.to(self.device).eval()
        # BLT-D commits a whole block (up to MAX_BLOCK bytes) as one patch, and the TS engine pools all of a
        # patch's bytes; PatchPooling gathers only max_patch_len of them. A wider gather changes nothing for
        # shorter patches (the extra slots are masked out).
        pooling = self.net.local_encoder.pooling
        pooling.max_patch_len = max(pooling.max_patch_len, MAX_BLOCK)
        self.ctx = self.cfg["max_seq_len"]
        p = self.cfg["patching"]
        self.threshold, self.max_patch_len = p["threshold"], p["max_patch_len"]
        # Weight bytes one pass reads. Embedding tables are excluded: a pass reads only the rows it looks
        # up (the TS engine's cost model does the same), so the estimates stay comparable.
        # The decoder's cross-attention keys/values of a latent are made once, by the global step that makes
        # it: those weights count there, not in decoder passes.
        latent_kv = sum(self._bytes(f"local_decoder.layers.{l}.cross_attn.{w}")
                        for l in range(self.cfg["local"]["n_decoder_layers"]) for w in ("wk", "wv"))
        self.cost = {"entropy": self._bytes("entropy_model", skip="tok_emb"),
                     "encoder": self._bytes("local_encoder", skip="emb"),
                     "global": self._bytes("global_transformer") + latent_kv,
                     "decoder": self._bytes("local_decoder", skip="tok_emb") - latent_kv}

    def _bytes(self, prefix, skip=None):
        return sum(t.numel() * t.element_size() for name, t in self.net.state_dict().items()
                   if name.startswith(prefix + ".") and not (skip and skip in name))


class Counters:
    """Passes per component and the estimated bytes moved, for one request."""

    def __init__(self, model):
        self.cost = model.cost
        self.passes = dict.fromkeys(COMPONENTS, 0)
        self.bytes_moved = 0

    def count(self, component):
        self.passes[component] += 1
        self.bytes_moved += self.cost[component]


class Sequence:
    """Committed tokens [BOS, prompt..., generated...] and their patch starts; the model's passes over them.
    Patch starts come from the entropy model (AR-style), except that a committed BLT-D block is one patch.
    Results are cached by a version bumped on every change, so that nothing runs twice for the same tokens
    and nothing runs at all until a mode asks for it (the last committed byte costs no pass)."""

    def __init__(self, model, counters):
        self.m, self.c = model, counters
        self.tokens, self.starts = [], []
        self.H = []                 # H[i]: entropy (nats) of the prediction for byte i, i <= n; H[0] = 0
        self.patched = 0            # positions < patched have their patch starts decided
        self.version = 0
        self._rows = self._enc = self._glob = self._block = None

    @property
    def n(self):
        return len(self.tokens)

    @property
    def room(self):
        return self.m.ctx - self.n

    # --- changes ------------------------------------------------------------------------------------

    def append_clean(self, ids):
        """Appends bytes as AR decoding would: their patch starts come from the entropy model (lazily)."""
        self.tokens.extend(int(i) for i in ids)
        self.version += 1

    def append_block(self, ids):
        """Commits a BLT-D block at positions n.. as one new patch (after close_patch)."""
        self.starts.append(self.n)
        self.tokens.extend(int(i) for i in ids)
        self.patched = self.n
        del self.H[self.n - len(ids) + 1:]       # the entropy model has not seen these bytes
        self.version += 1

    def truncate(self, n):
        """Rolls back to the first n tokens (BLT-S / BLT-DV rejection). Everything causal stays valid."""
        del self.tokens[n:]
        self.starts = [s for s in self.starts if s < n]
        self.patched = min(self.patched, n)
        del self.H[n + 1:]
        self.version += 1
        if self._rows is not None:
            self._rows = (self.version, self._rows[1][:n])

    # --- passes -------------------------------------------------------------------------------------

    def _tensor(self, ids):
        return torch.tensor([ids], dtype=torch.long, device=self.m.device)

    @torch.no_grad()
    def _entropy_pass(self):
        """One entropy-model pass over all tokens: H for every position and the next; patch starts for
        the positions not yet patched (docs/model.md §5)."""
        logp = self.m.net.entropy_model(self._tensor(self.tokens)).float().log_softmax(-1)
        ent = (-(logp.exp() * logp).sum(-1))[0].cpu().tolist()             # ent[i] = H(i + 1)
        self.c.count("entropy")
        self.H = [0.0] + ent
        for i in range(self.patched, self.n):
            if i <= 1 or self.H[i] > self.m.threshold or i - self.starts[-1] >= self.m.max_patch_len:
                self.starts.append(i)
        self.patched = self.n

    def _ensure_starts(self):
        if self.patched < self.n:
            self._entropy_pass()

    def next_starts_patch(self):
        """Whether the byte at position n would start a patch under entropy patching."""
        if self.patched < self.n or len(self.H) <= self.n:
            self._entropy_pass()
        n = self.n
        return n <= 1 or self.H[n] > self.m.threshold or n - self.starts[-1] >= self.m.max_patch_len

    def _is_start(self, length):
        is_start = torch.zeros(1, length, dtype=torch.bool, device=self.m.device)
        is_start[0, self.starts] = True
        return is_start

    @torch.no_grad()
    def _encode(self, extra=()):
        """One encoder pass (byte states + patch pooling) over the tokens and `extra` drafted bytes, which
        join the open patch. Cached for the committed tokens."""
        if not extra and self._enc is not None and self._enc[0] == self.version:
            return self._enc[1]
        tokens = self.tokens + list(extra)
        patches = Patches(self._is_start(len(tokens)))
        h, vecs = self.m.net.local_encoder(self._tensor(tokens), patches)
        self.c.count("encoder")
        if not extra:
            self._enc = (self.version, (h, vecs, patches))
        return h, vecs, patches

    @torch.no_grad()
    def _latents(self, vecs, n_complete):
        """Latents of patches 0..n_complete-1 (complete patches: a byte reads only earlier patches' latents).
        The global pass runs only when those patches changed: once per patch in AR, once per block in BLT-D."""
        end = self.starts[n_complete] if n_complete < len(self.starts) else self.n
        key = (tuple(self.tokens[:end]), tuple(self.starts[:n_complete]))
        if self._glob is None or self._glob[0] != key:
            self._glob = (key, self.m.net.global_transformer(vecs[:, :max(n_complete, 1)]))
            self.c.count("global")
        return self._glob[1]

    @torch.no_grad()
    def row_logits(self):
        """(n, 256) f32 on the CPU: decoder logits of every committed row; row i predicts byte i + 1."""
        if self._rows is None or self._rows[0] != self.version:
            self._ensure_starts()
            h, vecs, patches = self._encode()
            latents = self._latents(vecs, len(self.starts) - 1)
            logits = self.m.net.local_decoder(h, latents, patches.ids)
            self.c.count("decoder")
            self._rows = (self.version, logits[0].float().cpu())
        return self._rows[1]

    def next_logits(self):
        return self.row_logits()[-1]

    @torch.no_grad()
    def draft_logits(self, drafts):
        """BLT-S drafting: the decoder alone on the latents it has, the drafted bytes staying in the open
        patch (no global pass). Returns the logits (256,) for the byte after the drafts."""
        self._ensure_starts()
        h, vecs, patches = self._encode(drafts)
        latents = self._latents(vecs, len(self.starts) - 1)
        logits = self.m.net.local_decoder(h, latents, patches.ids)
        self.c.count("decoder")
        return logits[0, -1].float().cpu()

    def close_patch(self):
        """Ends the open patch at n and computes its latent (one encoder and one global pass). Returns q,
        the index of the patch a block starting at n becomes; the block reads latents 0..q-1."""
        self._ensure_starts()
        h, vecs, patches = self._encode()
        q = len(self.starts)
        self._block = (self.version, h, self._latents(vecs, q), patches.ids)
        return q

    @torch.no_grad()
    def denoise(self, q, ids):
        """One BLT-D denoising pass: the block `ids` (MASK or bytes) at positions n..n+B-1, attending to the
        committed prefix (docs/model.md §8). Returns the block's logits (B, 256) f32 on the CPU; row k
        predicts the byte at its own position."""
        version, h, latents, patch_ids = self._block
        assert version == self.version, "close_patch must run before denoising"
        n, B, dev = self.n, len(ids), self.m.device
        blocks = NoisyBlocks(self._tensor(ids), torch.arange(n, n + B, device=dev)[None],
                             torch.zeros(1, B, dtype=torch.long, device=dev),
                             torch.full((1, B), n, device=dev), torch.full((1, B), q, device=dev))
        logits = self.m.net.local_decoder(h, latents, patch_ids, blocks)
        self.c.count("decoder")
        return logits[0, n:].float().cpu()

"""The PyTorch model as the pool worker runs it: KV-cached passes of each component, batched over requests (the
TS engine's src/engine/model/blt-model.ts is the twin; docs/model.md the contract). Every running request owns a
slot: its rows of the caches — tokens, encoder byte states h, the KV caches of the entropy model, encoder, global
transformer and decoder, and the decoder's cross-attention keys/values of its latents. One call runs one
component for several requests at once, their rows padded to the longest; each reads and writes its own slot.
Weights and caches are f32 on the CPU, bf16 (else f16) on CUDA; logits leave a call as f32, on the device, and the
host reads a call's results once (greedy picks, entropies) for all its requests; on CUDA nothing else waits for the
device (layouts go up from pinned buffers).
"""
import json
import math
import os
import sys
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..train import safetensors_io
from ..train.model import BLT, merge_heads
from .wire import MAX_NEW_BYTES     # most bytes one request may generate (the request contract's): the caches slide

MAX_ROWS = 64           # most rows of one request in one call (as the TS engine's MAX_ROWS)
COMPONENTS = ("entropy", "encoder", "global", "decoder")
KINDS = ("entropy", "encoder", "latents", "decoder")    # the calls, in the order a batching sweep runs them


@dataclass
class Op:
    """One request's part of a call. entropy / encoder: tokens `ids` at positions pos0..; latents: patches
    index0.. over bytes [starts[j], ends[j]) pooled, then one global step, patch j attending to patches lo[j]..j;
    decoder: rows pos0.. reading latents lo[i]..reads[i], the last len(ids) of them a BLT-D block (inputs: those
    ids; its first `prefix` rows instead the byte states h, already made: prefix states) starting at
    pos0 + len(reads) − len(ids), the others clean rows (inputs: the byte states h)."""
    kind: str
    slot: int
    pos0: int
    ids: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    starts: list = field(default_factory=list)
    ends: list = field(default_factory=list)
    lo: list = field(default_factory=list)      # latents: each patch's first visible patch; decoder: each row's first latent
    prefix: int = 0                             # decoder: block rows that start from their byte states


def pick_dtype(device, name="auto"):
    if name != "auto":
        return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[name]
    if torch.device(device).type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class PoolModel:
    """One checkpoint on a device with caches for `slots` concurrent requests. `ctx` (max_seq_len, the training
    window) bounds BOS + prompt; generation runs past it (up to MAX_NEW_BYTES), the caches sliding: position p
    lives at p mod ring_bytes in the byte caches (the local windows + margin), patch j at j mod (ctx + 2 MAX_ROWS)
    in the patch caches (the global model attends to the patches of the last ctx bytes)."""

    def __init__(self, path, device, slots=4, dtype="auto"):
        file = path if path.endswith(".safetensors") else os.path.join(path, "model.safetensors")
        tensors, meta = safetensors_io.load(file)
        self.cfg = cfg = json.loads(meta["config"])
        self.id = os.path.basename(os.path.normpath(os.path.dirname(file)))
        self.device = torch.device(device)
        self.dtype = pick_dtype(device, dtype)
        self.net = BLT(cfg)
        self.net.load_state_dict(tensors)
        self.net.to(self.device, self.dtype).eval()
        # every projection as x @ W.t, W.t stored contiguous (the CPU's BLAS multiplies a few rows by a (in, out)
        # matrix up to 4x faster than by the (out, in) one); fused: q, k, v in one product, the FFN's w1 and w3 in
        # another, a cross-attention's k and v in a third (fewer, larger calls)
        t = lambda *ws: torch.cat([w.weight for w in ws]).t().contiguous().detach()
        for mod in self.net.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.wt = t(mod)
            if hasattr(mod, "attn") and hasattr(mod, "ffn"):
                mod.wqkv, mod.w13 = t(mod.attn.wq, mod.attn.wk, mod.attn.wv), t(mod.ffn.w1, mod.ffn.w3)
            if hasattr(mod, "wk") and hasattr(mod, "wv") and not hasattr(mod, "rope_base"):
                mod.wkv = t(mod.wk, mod.wv)                        # CrossAttention (decoder, patch pooling)
        self.ctx = cfg["max_seq_len"]
        p = cfg["patching"]
        self.threshold, self.max_patch_len = p["threshold"], p["max_patch_len"]
        self.rule = cfg["local"].get("decoder_latents", "v1")
        if self.rule not in ("v1", "one", "all"):
            raise ValueError(f"{file}: unknown local.decoder_latents {self.rule!r}")
        # Weight bytes one pass reads (docs/design.md §4), in the dtype it runs in. Embedding tables are excluded: a
        # pass reads only the rows it looks up (the TS engine's cost model does the same). The decoder's
        # cross-attention keys/values of a latent are made once, by the global step that makes it: those weights
        # count there, not in decoder passes.
        latent_kv = sum(self._bytes(f"local_decoder.layers.{l}.cross_attn.{w}")
                        for l in range(cfg["local"]["n_decoder_layers"]) for w in ("wk", "wv"))
        self.cost = {"entropy": self._bytes("entropy_model", skip="tok_emb"),
                     "encoder": self._bytes("local_encoder", skip="emb"),
                     "global": self._bytes("global_transformer") + latent_kv,
                     "decoder": self._bytes("local_decoder", skip="tok_emb") - latent_kv}
        self._allocate(slots)

    def _bytes(self, prefix, skip=None):
        return sum(t.numel() * t.element_size() for name, t in self.net.state_dict().items()
                   if name.startswith(prefix + ".") and not (skip and skip in name))

    def _allocate(self, slots):
        """The run state of `slots` requests, allocated once: (slots, ring, dim) per cache and layer."""
        cfg, dev, dt = self.cfg, self.device, self.dtype
        # a byte ring holds the longest local window plus the rows of one call (a block and the clean rows before it),
        # a rollback and the bytes of the patches still to pool; a patch ring the patches of the last window of bytes
        window = max(cfg["entropy"]["window"], cfg["local"]["window"])
        RB, RP = self.ring_bytes, self.ring_patches = min(self.ctx, window + 4 * MAX_ROWS), self.ctx + 2 * MAX_ROWS
        dl, dg, de = cfg["local"]["dim"], cfg["global"]["dim"], cfg["entropy"]["dim"]
        kv = lambda n, R, d: [torch.zeros(slots, R, 2 * d, device=dev, dtype=dt) for _ in range(n)]   # keys | values
        self.tokens = torch.zeros(slots, RB, dtype=torch.long, device=dev)
        self.h = torch.zeros(slots, RB, dl, device=dev, dtype=dt)
        self.kv = {"entropy": kv(cfg["entropy"]["n_layers"], RB, de), "encoder": kv(cfg["local"]["n_encoder_layers"], RB, dl),
                   "global": kv(cfg["global"]["n_layers"], RP, dg), "decoder": kv(cfg["local"]["n_decoder_layers"], RB, dl),
                   "latent": kv(cfg["local"]["n_decoder_layers"], RP, dl)}
        S = self.max_positions = self.ctx + MAX_NEW_BYTES + 4 * MAX_ROWS           # RoPE angles for every position
        self.rope = {}
        for name in ("entropy", "local", "global"):
            hd = cfg[name]["dim"] // cfg[name]["n_heads"]
            if hd not in self.rope:
                # as model.rope_cos_sin: angles pos · base^(−2i/hd) in f32, rotate-half layout
                freqs = 1.0 / (cfg["rope_base"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
                angles = torch.arange(S, dtype=torch.float32)[:, None] * freqs
                angles = torch.cat([angles, angles], -1)
                self.rope[hd] = (angles.cos().to(dev), angles.sin().to(dev))
        self.free_slots = list(range(slots - 1, -1, -1))
        # on CUDA a call's layout goes up through pinned buffers, copied without waiting for the device (a ring, each
        # buffer reused only once the copy out of it is done)
        self._staging = [] if self.device.type != "cuda" else [
            (torch.empty(1 << 16, dtype=torch.long).pin_memory(), torch.cuda.Event()) for _ in range(8)]
        self._stage = 0
        self.slots = slots

    def take_slot(self):
        return self.free_slots.pop() if self.free_slots else None

    def give_slot(self, slot):
        self.free_slots.append(slot)

    def _upload(self, values):
        """A list of ints -> a long tensor on the device."""
        host = torch.tensor(values, dtype=torch.long)
        if not self._staging or len(values) > self._staging[0][0].numel():
            return host.to(self.device)
        buf, done = self._staging[self._stage]
        self._stage = (self._stage + 1) % len(self._staging)
        done.synchronize()
        buf[:len(values)] = host
        out = buf[:len(values)].to(self.device, non_blocking=True)
        done.record()
        return out

    def compile(self):
        """torch.compile on the layer step and attention where the installed torch has it (2.x); else False. A
        compiled step that fails runs eagerly from then on (a step only rewrites its own cache rows: re-running it
        is harmless)."""
        if not hasattr(torch, "compile"):
            return False
        for name in ("_self_layer", "_attend"):
            eager = getattr(self, name)
            setattr(self, name, _or_eager(torch.compile(eager, dynamic=True), eager, name))
        return True

    def run(self, kind, ops):
        """One batched call of `kind` for ops of distinct slots; one result per op (None for the encoder and
        latents calls, which only fill the caches)."""
        with torch.no_grad():
            return getattr(self, "_" + kind)(ops)

    # --- the calls --------------------------------------------------------------------------------------

    def _entropy(self, ops):
        """-> per op, H (m,): the entropy (nats) of the prediction for bytes pos0+1..pos0+m, a list read from the device
        (once for the whole call) when first called."""
        em = self.net.entropy_model
        r = self._rows(ops, [op.ids for op in ops], em.window, self.cfg["entropy"], self.ring_bytes)
        x = em.tok_emb(r.ids)
        for l, layer in enumerate(em.layers):
            x = self._self_layer(layer, x, r, self.kv["entropy"][l])
        logp = (em.norm(x) @ em.head.wt).float().log_softmax(-1)
        H = -(logp.exp() * logp).sum(-1)                                          # (b, M)
        H = OnHost(H)
        return [H.row(i, len(op.ids)) for i, op in enumerate(ops)]

    def _encoder(self, ops):
        """Byte states h[pos0..pos0+m) of the tokens `ids` (written to the slot's tokens first)."""
        enc = self.net.local_encoder
        r = self._rows(ops, [op.ids for op in ops], enc.window, self.cfg["local"], self.ring_bytes)
        _put(self.tokens, r.flat_rows, r.rows_of(r.ids))
        # hashed n-grams of the tokens ending at each position (model.ngram_hash_rows): x = id + 1, 0 before BOS
        back = torch.arange(7, -1, -1, device=self.device)                        # offsets 7..0, oldest first
        p = r.pos[..., None] - back                                               # (b, M, 8)
        xs = torch.where(p >= 0, _get(self.tokens, r.slot[:, None, None] * self.ring_bytes + p.clamp(min=0) % self.ring_bytes) + 1,
                         torch.zeros_like(p))
        x = enc.tok_emb(r.ids)
        for n, t in zip(enc.ngram_sizes, enc.ngram_table_sizes):
            hsh = torch.full_like(r.ids, 2166136261)
            for k in range(8 - n, 8):
                hsh = ((hsh ^ xs[..., k]) * 16777619) & 0xFFFFFFFF
            x = x + enc.ngram_emb[str(n)](hsh % t)
        for l, layer in enumerate(enc.layers):
            x = self._self_layer(layer, x, r, self.kv["encoder"][l])
        _put(self.h, r.flat_rows, r.rows_of(x))
        return [None] * len(ops)

    def _latents(self, ops):
        """Patch pooling of each op's patches, then one global step over them (patch indices index0 = pos0..):
        the decoder's cross-attention keys/values of the new latents go to the slot's latent cache."""
        pooling, glob = self.net.local_encoder.pooling, self.net.global_transformer
        dev = self.device
        # pooling: every patch of every op at once, (P, Lp) byte slots
        flat = [(op.slot, s, e) for op in ops for s, e in zip(op.starts, op.ends)]
        meta = self._upload([x for patch in flat for x in patch]).view(-1, 3)
        Lp = max(e - s for _, s, e in flat)
        offs = torch.arange(Lp, device=dev)
        valid = offs[None] < (meta[:, 2] - meta[:, 1])[:, None]                        # (P, Lp)
        hb = _get(self.h, meta[:, 0:1] * self.ring_bytes + (meta[:, 1:2] + offs) % self.ring_bytes)   # (P, Lp, dl)
        q0 = hb.masked_fill(~valid[..., None], torch.finfo(hb.dtype).min).amax(1)
        pa = pooling.attn
        q = self._heads(pooling.query_norm(q0)[:, None] @ pa.wq.wt, pa.n_heads)          # (P, h, 1, hd)
        pooled = self._attend(q, pooling.kv_norm(hb) @ pa.wkv, pa.n_heads, ~valid[:, None, None],
                              valid.any(1)[:, None, None, None].to(q.dtype)) @ pa.wo.wt  # (P, 1, dl)
        vecs = (pooled[:, 0] + q0) @ pooling.proj.wt                                     # (P, dg)
        # global: the ops' new patches as rows, causal over the earlier patches each one sees (lo)
        r = self._rows(ops, [op.lo for op in ops], None, self.cfg["global"], self.ring_patches)
        x = torch.zeros(len(ops), r.M, vecs.shape[-1], device=dev, dtype=vecs.dtype)
        x[r.valid] = vecs
        for l, layer in enumerate(glob.layers):
            x = self._self_layer(layer, x, r, self.kv["global"][l])
        lat = r.rows_of(glob.norm(x))                                                   # (P, dg)
        for l, layer in enumerate(self.net.local_decoder.layers):
            _put(self.kv["latent"][l], r.flat_rows, lat @ layer.cross_attn.wkv)
        return [None] * len(ops)

    def _decoder(self, ops):
        """-> per op, logits (rows, 256) f32 and their argmax (a list read when first called, once for the whole
        call): a clean row predicts the byte after it, a block row the byte at its own position. Clean rows see the
        earlier bytes within the window; a block sees its clean prefix (within the window) and itself. Row i
        cross-attends latents lo[i]..reads[i] (one latent under "one")."""
        dec = self.net.local_decoder
        dev = self.device
        # the block's ids sit at the end of each op's rows (its first block row: first_block)
        x0s = [min(op.lo) for op in ops]
        r = self._rows(ops, [op.reads for op in ops], dec.window, self.cfg["local"], self.ring_bytes,
                       [[0] * (len(op.reads) - len(op.ids)) + op.ids for op in ops],
                       [len(op.reads) - len(op.ids) for op in ops] + x0s + [op.prefix for op in ops], [op.lo for op in ops])
        b, M = r.ids.shape
        first_block, x0, prefix = r.extra[:b], r.extra[b:2 * b], r.extra[2 * b:]
        row = torch.arange(M, device=dev)[None]
        is_block = (row >= first_block[:, None]) & r.valid
        # a block's token inputs; its first `prefix` rows (prefix states) start from their byte states, as clean rows do
        tokens_in = is_block & (row >= (first_block + prefix)[:, None])
        emb = dec.dec_tok_emb(r.ids2)
        x = torch.where(tokens_in[..., None], emb, _get(self.h, r.slot[:, None] * self.ring_bytes + r.pos % self.ring_bytes))
        # a block's rows see up to the block's end (the op's last row); clean rows up to themselves
        r.hi = torch.where(is_block, (r.pos0 + r.valid.sum(1))[:, None], r.hi)
        # cross-attention key ranges [xlo, xhi) over the slot's latents: latent reads[i] alone ("one"), or the
        # latents from the first one its latent's global row saw (lo) to reads[i]
        reads, xlo = r.ids, r.ids3
        xhi = torch.where(r.valid, reads + 1, torch.zeros_like(reads))
        Lx = max(1, max(max(op.reads) + 1 - x for op, x in zip(ops, x0s)))
        xpos = x0[:, None] + torch.arange(Lx, device=dev)[None]                          # (b, Lx)
        x_masked = ~((xpos[:, None, :] >= xlo[..., None]) & (xpos[:, None, :] < xhi[..., None]))[:, None]
        x_any = (~x_masked).any(-1, keepdim=True).to(x.dtype)
        xflat = r.slot[:, None] * self.ring_patches + xpos.clamp(min=0) % self.ring_patches
        for l, layer in enumerate(dec.layers):
            ca = layer.cross_attn
            q = self._heads(layer.cross_norm(x) @ ca.wq.wt, ca.n_heads)
            kv = _get(self.kv["latent"][l], xflat)                                          # (b, Lx, 2 dl)
            x = x + self._attend(q, kv, ca.n_heads, x_masked, x_any) @ ca.wo.wt
            x = self._self_layer(layer, x, r, self.kv["decoder"][l])
        logits = (dec.norm(x) @ dec.head.wt).float()
        best = OnHost(logits.argmax(-1))            # greedy picks: one read for the whole call
        return [(logits[i, :len(op.reads)], best.row(i, len(op.reads))) for i, op in enumerate(ops)]

    # --- shared pieces ----------------------------------------------------------------------------------

    def _rows(self, ops, rows, window, shape, ring, rows2=None, extra=(), rows3=None):
        """The padded row layout of a call: row j of op i sits at position pos0 + j (its cache row: pos mod ring);
        ids (b, M) from `rows`, and ids2, ids3 from rows2, rows3; self-attention key range [lo, hi) = the window
        ending at the row, or with window None the rows' first visible position, given as `rows` (the global model);
        the keys gathered per op: positions key0 .. key0 + Lk − 1."""
        b, M = len(ops), max(len(x) for x in rows)
        # ids, valid, ids2, ids3, then per op: slot, pos0, key0, extra — one host-to-device copy
        flat = []
        for ids in rows:
            flat += ids
            flat += [0] * (M - len(ids))
        for ids in rows:
            flat += [1] * len(ids) + [0] * (M - len(ids))
        for more in (rows2, rows3):
            for ids in more or ():
                flat += ids
                flat += [0] * (M - len(ids))
            if more is None:
                flat += [0] * (b * M)
        key0 = [max(0, op.pos0 - window + 1) for op in ops] if window else [min(ids) for ids in rows]
        flat += [op.slot for op in ops] + [op.pos0 for op in ops] + key0 + list(extra)
        host = self._upload(flat)
        r = _Rows()
        grid, tail = host[:4 * b * M].view(4, b, M), host[4 * b * M:]
        r.M, r.ids, r.valid, r.ids2, r.ids3 = M, grid[0], grid[1].bool(), grid[2], grid[3]
        r.slot, r.pos0, r.key0, r.extra = tail[:b], tail[b:2 * b], tail[2 * b:3 * b], tail[3 * b:]
        r.pos = r.pos0[:, None] + torch.arange(M, device=self.device)[None]
        r.hi, r.ring = r.pos + 1, ring
        r.lo = (r.pos - window + 1).clamp(min=0) if window else r.ids
        r.Lk = max(op.pos0 + len(ids) - k for op, ids, k in zip(ops, rows, key0))
        r.full = all(len(ids) == M for ids in rows)                                      # no padding rows
        r.flat_rows = r.rows_of(r.slot[:, None] * ring + r.pos % ring)                    # slot-major cache rows
        cos, sin = self.rope[shape["dim"] // shape["n_heads"]]
        pos = r.pos.clamp(max=self.max_positions - 1)
        r.cos, r.sin = cos[pos][:, None], sin[pos][:, None]                                # (b, 1, M, hd)
        r.masked = None                                                                  # made at the first layer
        return r

    @staticmethod
    def _heads(x, n_heads):
        b, L, d = x.shape
        return x.view(b, L, n_heads, d // n_heads).transpose(1, 2)

    def _attend(self, q, kv, n_heads, masked, nonempty=None):
        """q (b, h, M, hd) over keys | values kv (b, L, 2d), masked (b, 1, M, L) -> (b, M, d); as model.attend, a
        row with no key outputs zero where nonempty (b, 1, M, 1) says so (self-attention rows always see themselves)."""
        d = kv.shape[-1] // 2
        k, v = self._heads(kv[..., :d], n_heads), self._heads(kv[..., d:], n_heads)
        b, h, M, hd = q.shape
        if M <= 4:      # decoding steps: tiny batched matmuls are slower than elementwise products on the CPU
            scores = (q[..., None, :] * k[:, :, None]).sum(-1) / math.sqrt(hd)
            p = scores.masked_fill_(masked, torch.finfo(q.dtype).min).softmax(-1)
            o = (p[..., None] * v[:, :, None]).sum(-2)
        else:
            scores = (q @ k.transpose(-1, -2) / math.sqrt(hd)).masked_fill_(masked, torch.finfo(q.dtype).min)
            o = scores.softmax(-1) @ v
        return merge_heads(o if nonempty is None else o * nonempty)

    @staticmethod
    def _rope(x, cos, sin):
        """x (b, h, M, hd) rotated by angles cos, sin (b, 1, M, hd) (model.apply_rope)."""
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return (x.float() * cos + rotated.float() * sin).to(x.dtype)

    def _self_layer(self, layer, x, r, cache):
        """A pre-norm self-attention + SwiGLU layer over the rows x (b, M, d): their keys/values go to the cache
        at their positions first, then each row attends to the cached keys in [lo, hi) of its slot."""
        attn, h = layer.attn, layer.attn.n_heads
        b, M, d = x.shape
        qkv = layer.attn_norm(x) @ layer.wqkv                                              # (b, M, 3d)
        qk = self._rope(qkv[..., :2 * d].reshape(b, M, 2 * h, d // h).transpose(1, 2), r.cos, r.sin)
        _put(cache, r.flat_rows, r.rows_of(torch.cat([merge_heads(qk[:, h:]), qkv[..., 2 * d:]], -1)))
        if r.masked is None:
            kpos = r.key0[:, None] + torch.arange(r.Lk, device=self.device)[None]        # (b, Lk)
            r.masked = ~((kpos[:, None, :] >= r.lo[..., None]) & (kpos[:, None, :] < r.hi[..., None]))[:, None]
            r.kflat = r.slot[:, None] * r.ring + kpos % r.ring
        kv = _get(cache, r.kflat)                                                         # (b, Lk, 2d)
        x = x + self._attend(qk[:, :h], kv, h, r.masked) @ attn.wo.wt
        h1, h3 = (layer.ffn_norm(x) @ layer.w13).split(layer.ffn.w2.in_features, -1)
        return x + (F.silu(h1) * h3) @ layer.ffn.w2.wt


def _or_eager(fast, eager, name):
    failed = []

    def step(*args):
        if not failed:
            try:
                return fast(*args)
            except Exception as e:          # a torch.compile limitation: note it once, keep serving
                failed.append(e)
                print(f"--compile: {name} runs eagerly ({type(e).__name__}: {str(e)[:200]})", file=sys.stderr)
        return eager(*args)
    return step


class OnHost:
    """A call's result (b, M) on the device, copied to the host once, when the first request asks for its row."""

    def __init__(self, t):
        self.t, self.v = t, None

    def row(self, i, m):
        def read():
            if self.v is None:
                self.v = self.t.tolist()
            return self.v[i][:m]
        return read


def _get(cache, idx):
    """cache (slots, S, ...) at flat rows idx = slot * S + position, any shape -> (*idx.shape, ...)."""
    flat = cache.view(-1, *cache.shape[2:])
    return flat.index_select(0, idx.reshape(-1)).view(*idx.shape, *cache.shape[2:])


def _put(cache, idx, values):
    """cache rows at flat indices idx (n,) = values (n, ...)."""
    cache.view(-1, *cache.shape[2:]).index_copy_(0, idx, values)


class _Rows:
    """The device-side layout of one call (see PoolModel._rows)."""

    def rows_of(self, x):
        """x (b, M, ...) -> its valid rows (n, ...), op by op."""
        return x.reshape(-1, *x.shape[2:]) if self.full else x[self.valid]

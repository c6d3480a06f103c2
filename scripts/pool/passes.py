"""The PyTorch model as the pool worker runs it: KV-cached passes of each component, batched over requests (the
TS engine's src/engine/model/blt-model.ts is the twin; docs/model.md the contract). Every running request owns a
slot: its rows of the caches — tokens, encoder byte states h, the KV caches of the entropy model, encoder, global
transformer and decoder, and the decoder's cross-attention keys/values of its latents. One call runs one
component for several requests at once, their rows padded to the longest; each reads and writes its own slot.
Weights and caches are f32 on the CPU, bf16 (else f16) on CUDA; logits leave a call as f32, on the device.
"""
import json
import math
import os
from dataclasses import dataclass, field

import torch

from ..train import safetensors_io
from ..train.model import BLT, attend, merge_heads

MAX_ROWS = 64           # most rows of one request in one call (as the TS engine's MAX_ROWS)
COMPONENTS = ("entropy", "encoder", "global", "decoder")
KINDS = ("entropy", "encoder", "latents", "decoder")    # the calls, in the order a batching sweep runs them


@dataclass
class Op:
    """One request's part of a call. entropy / encoder: tokens `ids` at positions pos0..; latents: patches
    index0.. over bytes [starts[j], ends[j]) pooled, then one global step; decoder: rows pos0.. whose latent
    read indices are `reads`, the last len(ids) of them a BLT-D block (inputs: those ids) starting at
    pos0 + len(reads) − len(ids), the others clean rows (inputs: the byte states h)."""
    kind: str
    slot: int
    pos0: int
    ids: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    starts: list = field(default_factory=list)
    ends: list = field(default_factory=list)


def pick_dtype(device, name="auto"):
    if name != "auto":
        return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[name]
    if torch.device(device).type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class PoolModel:
    """One checkpoint on a device with caches for `slots` concurrent requests. `ctx` (max_seq_len) bounds
    BOS + prompt + new bytes."""

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
        self.ctx = cfg["max_seq_len"]
        p = cfg["patching"]
        self.threshold, self.max_patch_len = p["threshold"], p["max_patch_len"]
        self.rule = cfg["local"].get("decoder_latents", "v1")
        if self.rule not in ("v1", "one", "all"):
            raise ValueError(f"{file}: unknown local.decoder_latents {self.rule!r}")
        # Weight bytes one pass reads (fast-blt.md §4), in the dtype it runs in. Embedding tables are excluded: a
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
        """The run state of `slots` requests, allocated once: (slots, ctx, dim) per cache and layer."""
        cfg, S, dev, dt = self.cfg, self.ctx, self.device, self.dtype
        dl, dg, de = cfg["local"]["dim"], cfg["global"]["dim"], cfg["entropy"]["dim"]
        kv = lambda n, d: [(torch.zeros(slots, S, d, device=dev, dtype=dt), torch.zeros(slots, S, d, device=dev, dtype=dt))
                           for _ in range(n)]
        self.tokens = torch.zeros(slots, S, dtype=torch.long, device=dev)
        self.h = torch.zeros(slots, S, dl, device=dev, dtype=dt)
        self.kv = {"entropy": kv(cfg["entropy"]["n_layers"], de), "encoder": kv(cfg["local"]["n_encoder_layers"], dl),
                   "global": kv(cfg["global"]["n_layers"], dg), "decoder": kv(cfg["local"]["n_decoder_layers"], dl),
                   "latent": kv(cfg["local"]["n_decoder_layers"], dl)}
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
        self.slots = slots

    def take_slot(self):
        return self.free_slots.pop() if self.free_slots else None

    def give_slot(self, slot):
        self.free_slots.append(slot)

    def run(self, kind, ops):
        """One batched call of `kind` for ops of distinct slots; one result per op (None for the encoder and
        latents calls, which only fill the caches)."""
        with torch.no_grad():
            return getattr(self, "_" + kind)(ops)

    # --- the calls --------------------------------------------------------------------------------------

    def _entropy(self, ops):
        """-> per op, H (m,) f32: the entropy (nats) of the prediction for bytes pos0+1..pos0+m."""
        em = self.net.entropy_model
        r = self._rows(ops, [op.ids for op in ops], em.window)
        x = em.tok_emb(r.ids)
        for l, layer in enumerate(em.layers):
            x = self._self_layer(layer, x, r, self.kv["entropy"][l])
        logp = em.head(em.norm(x)).float().log_softmax(-1)
        H = -(logp.exp() * logp).sum(-1)                                          # (b, M)
        return [H[i, :len(op.ids)] for i, op in enumerate(ops)]

    def _encoder(self, ops):
        """Byte states h[pos0..pos0+m) of the tokens `ids` (written to the slot's tokens first)."""
        enc = self.net.local_encoder
        r = self._rows(ops, [op.ids for op in ops], enc.window)
        self.tokens[r.slot_rows, r.pos_rows] = r.ids[r.valid]
        # hashed n-grams of the tokens ending at each position (model.ngram_hash_rows): x = id + 1, 0 before BOS
        back = torch.arange(7, -1, -1, device=self.device)                        # offsets 7..0, oldest first
        p = r.pos[..., None] - back                                               # (b, M, 8)
        xs = torch.where(p >= 0, self.tokens[r.slot[:, None, None], p.clamp(0, self.ctx - 1)] + 1, torch.zeros_like(p))
        x = enc.tok_emb(r.ids)
        for n, t in zip(enc.ngram_sizes, enc.ngram_table_sizes):
            hsh = torch.full_like(r.ids, 2166136261)
            for k in range(8 - n, 8):
                hsh = ((hsh ^ xs[..., k]) * 16777619) & 0xFFFFFFFF
            x = x + enc.ngram_emb[str(n)](hsh % t)
        for l, layer in enumerate(enc.layers):
            x = self._self_layer(layer, x, r, self.kv["encoder"][l])
        self.h[r.slot_rows, r.pos_rows] = x[r.valid]
        return [None] * len(ops)

    def _latents(self, ops):
        """Patch pooling of each op's patches, then one global step over them (patch indices index0 = pos0..):
        the decoder's cross-attention keys/values of the new latents go to the slot's latent cache."""
        pooling, glob = self.net.local_encoder.pooling, self.net.global_transformer
        dev = self.device
        # pooling: every patch of every op at once, (P, Lp) byte slots
        flat = [(op.slot, s, e) for op in ops for s, e in zip(op.starts, op.ends)]
        meta = torch.tensor(flat, dtype=torch.long).to(dev)
        Lp = max(e - s for _, s, e in flat)
        offs = torch.arange(Lp, device=dev)
        valid = offs[None] < (meta[:, 2] - meta[:, 1])[:, None]                        # (P, Lp)
        hb = self.h[meta[:, 0:1], (meta[:, 1:2] + offs).clamp(max=self.ctx - 1)]       # (P, Lp, dl)
        q0 = hb.masked_fill(~valid[..., None], torch.finfo(hb.dtype).min).amax(1)
        pooled = pooling.attn(pooling.query_norm(q0)[:, None], pooling.kv_norm(hb), valid[:, None])
        vecs = pooling.proj(pooled[:, 0] + q0)                                          # (P, dg)
        # global: the ops' new patches as rows, causal over all earlier patches
        counts = [len(op.starts) for op in ops]
        r = self._rows(ops, [[0] * c for c in counts], None)
        x = torch.zeros(len(ops), r.M, vecs.shape[-1], device=dev, dtype=vecs.dtype)
        x[r.valid] = vecs
        for l, layer in enumerate(glob.layers):
            x = self._self_layer(layer, x, r, self.kv["global"][l])
        lat = glob.norm(x)[r.valid]                                                     # (P, dg)
        for l, layer in enumerate(self.net.local_decoder.layers):
            K, V = self.kv["latent"][l]
            K[r.slot_rows, r.pos_rows] = layer.cross_attn.wk(lat)
            V[r.slot_rows, r.pos_rows] = layer.cross_attn.wv(lat)
        return [None] * len(ops)

    def _decoder(self, ops):
        """-> per op, logits (rows, 256) f32: a clean row predicts the byte after it, a block row the byte at its
        own position. Clean rows see the earlier bytes within the window; a block sees its clean prefix (within
        the window) and itself. Row i cross-attends latent reads[i] ("one") or latents 0..reads[i]."""
        dec = self.net.local_decoder
        dev = self.device
        r = self._rows(ops, [op.reads for op in ops], dec.window)
        b, M = r.ids.shape
        n_block = torch.tensor([len(op.ids) for op in ops], device=dev)
        first_block = torch.tensor([len(op.reads) - len(op.ids) for op in ops], device=dev)
        col = torch.arange(M, device=dev)[None]
        is_block = (col >= first_block[:, None]) & r.valid
        block_ids = torch.zeros(b, M, dtype=torch.long)
        for i, op in enumerate(ops):
            if op.ids:
                block_ids[i, len(op.reads) - len(op.ids):len(op.reads)] = torch.tensor(op.ids)
        emb = dec.dec_tok_emb(block_ids.to(dev))
        x = torch.where(is_block[..., None], emb, self.h[r.slot[:, None], r.pos.clamp(max=self.ctx - 1)])
        # a block's rows see up to the block's end; clean rows up to themselves
        r.hi = torch.where(is_block, (r.pos0 + first_block + n_block)[:, None], r.hi)
        # cross-attention key ranges [xlo, xhi) over the slot's latents
        reads = r.ids
        xhi = torch.where(r.valid, reads + 1, torch.zeros_like(reads))
        xlo = reads.clamp(min=0) if self.rule == "one" else torch.zeros_like(reads)
        xlo = torch.where(r.valid, xlo, torch.zeros_like(xlo))
        x0 = torch.tensor([min((max(0, x) if self.rule == "one" else 0) for x in op.reads) for op in ops], device=dev)
        Lx = max(1, max(max(op.reads) + 1 - (min(max(0, x) for x in op.reads) if self.rule == "one" else 0) for op in ops))
        xpos = x0[:, None] + torch.arange(Lx, device=dev)[None]                          # (b, Lx)
        allowed_x = (xpos[:, None, :] >= xlo[..., None]) & (xpos[:, None, :] < xhi[..., None])
        xpos = xpos.clamp(max=self.ctx - 1)
        for l, layer in enumerate(dec.layers):
            ca = layer.cross_attn
            K, V = self.kv["latent"][l]
            q = self._heads(ca.wq(layer.cross_norm(x)), ca.n_heads)
            k, v = self._heads(K[r.slot[:, None], xpos], ca.n_heads), self._heads(V[r.slot[:, None], xpos], ca.n_heads)
            x = x + ca.wo(merge_heads(attend(q, k, v, allowed_x)))
            x = self._self_layer(layer, x, r, self.kv["decoder"][l])
        logits = dec.head(dec.norm(x)).float()
        return [logits[i, :len(op.reads)] for i, op in enumerate(ops)]

    # --- shared pieces ----------------------------------------------------------------------------------

    def _rows(self, ops, rows, window):
        """The padded row layout of a call: row j of op i sits at position pos0 + j; ids (b, M) from `rows`;
        self-attention key range [lo, hi) = the window ending at the row (all earlier rows when window is None);
        the keys gathered per op: positions key0 .. key0 + Lk − 1."""
        b, M = len(ops), max(len(x) for x in rows)
        host = torch.zeros(2 * b * M + 2 * b, dtype=torch.long)        # ids, valid, slots, pos0s: one copy
        grid = host[:2 * b * M].view(2, b, M)
        for i, (op, ids) in enumerate(zip(ops, rows)):
            grid[0, i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            grid[1, i, :len(ids)] = 1
        host[2 * b * M:] = torch.tensor([op.slot for op in ops] + [op.pos0 for op in ops], dtype=torch.long)
        host = host.to(self.device)
        r = _Rows()
        r.M, r.ids, r.valid = M, host[:b * M].view(b, M), host[b * M:2 * b * M].view(b, M).bool()
        r.slot, r.pos0 = host[2 * b * M:2 * b * M + b], host[2 * b * M + b:]
        r.pos = r.pos0[:, None] + torch.arange(M, device=self.device)[None]
        r.lo = (r.pos - window + 1).clamp(min=0) if window else torch.zeros_like(r.pos)
        r.hi = r.pos + 1
        r.key0 = (r.pos0 - window + 1).clamp(min=0) if window else torch.zeros_like(r.pos0)
        r.Lk = max(op.pos0 + len(ids) - (max(0, op.pos0 - window + 1) if window else 0) for op, ids in zip(ops, rows))
        r.slot_rows = r.slot[:, None].expand(b, M)[r.valid]
        r.pos_rows = r.pos[r.valid]
        return r

    @staticmethod
    def _heads(x, n_heads):
        b, L, d = x.shape
        return x.view(b, L, n_heads, d // n_heads).transpose(1, 2)

    def _rope(self, x, pos):
        """x (b, h, M, hd) rotated by the angles of positions pos (b, M) (model.apply_rope)."""
        cos, sin = self.rope[x.shape[-1]]
        cos, sin = cos[pos][:, None], sin[pos][:, None]                                # (b, 1, M, hd)
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return (x.float() * cos + rotated.float() * sin).to(x.dtype)

    def _self_layer(self, layer, x, r, cache):
        """A pre-norm self-attention + SwiGLU layer over the rows x (b, M, d): their keys/values go to the cache
        at their positions first, then each row attends to the cached keys in [lo, hi) of its slot."""
        attn, K, V = layer.attn, cache[0], cache[1]
        b, M, d = x.shape
        xn = layer.attn_norm(x)
        pos = r.pos.clamp(max=self.ctx - 1)
        q = self._rope(self._heads(attn.wq(xn), attn.n_heads), pos)
        k = self._rope(self._heads(attn.wk(xn), attn.n_heads), pos)
        K[r.slot_rows, r.pos_rows] = merge_heads(k)[r.valid]
        V[r.slot_rows, r.pos_rows] = attn.wv(xn)[r.valid]
        kpos = r.key0[:, None] + torch.arange(r.Lk, device=self.device)[None]            # (b, Lk)
        allowed = (kpos[:, None, :] >= r.lo[..., None]) & (kpos[:, None, :] < r.hi[..., None])
        kpos = kpos.clamp(max=self.ctx - 1)
        kk = self._heads(K[r.slot[:, None], kpos], attn.n_heads)
        vv = self._heads(V[r.slot[:, None], kpos], attn.n_heads)
        o = attend(q, kk, vv, allowed)
        x = x + attn.wo(merge_heads(o))
        return x + layer.ffn(layer.ffn_norm(x))


class _Rows:
    """The device-side layout of one call (see PoolModel._rows)."""

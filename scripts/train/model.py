"""BLT-D in one file: EntropyModel, LocalEncoder (hashed n-grams + PatchPooling), GlobalTransformer,
LocalDecoder (cross-attention to latents, noisy blocks for block diffusion), and entropy patching.
Every detail here is the contract the TypeScript engine reimplements: see docs/model.md.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Vocabulary ids (embedding tables have 259 rows; output heads give 256 byte logits).
BOS_ID, PAD_ID, MASK_ID = 256, 257, 258
EOS_ID = PAD_ID
VOCAB_SIZE, N_BYTE_LOGITS = 259, 256


# ---------------------------------------------------------------------------------------------
# Building blocks

class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight   (weight only, no bias)."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SwiGLU(nn.Module):
    """FFN(x) = w2( silu(w1 x) * w3 x )."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


def rope_cos_sin(positions, head_dim, base):
    """positions (b, L) int -> cos, sin (b, 1, L, hd). Rotate-half convention: pair (i, i + hd/2)
    turns by angle pos * base^(-2i/hd)."""
    freqs = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=positions.device,
                                         dtype=torch.float32) / head_dim))      # (hd/2,)
    angles = positions.to(torch.float32)[..., None] * freqs                    # (b, L, hd/2)
    angles = torch.cat([angles, angles], dim=-1)[:, None]                       # (b, 1, L, hd)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    """x (b, h, L, hd): x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1]."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def attend(q, k, v, allowed):
    """q (b,h,Lq,hd), k/v (b,h,Lk,hd), allowed (b,Lq,Lk) bool -> (b,h,Lq,hd).
    A query row with no allowed key outputs exactly zero."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed[:, None], torch.finfo(scores.dtype).min)
    out = scores.softmax(-1) @ v
    return out * allowed.any(-1)[:, None, :, None].to(out.dtype)


def split_heads(x, n_heads):
    b, L, d = x.shape
    return x.view(b, L, n_heads, d // n_heads).transpose(1, 2)


def merge_heads(x):
    b, h, L, hd = x.shape
    return x.transpose(1, 2).reshape(b, L, h * hd)


def local_attend(q, k, v, window, chunk=64, seg=None):
    """Windowed causal attention over consecutive positions 0..L-1, computed chunk by chunk:
    the same result as attend() with causal_window_mask(L, window) but with L x (window + chunk)
    scores instead of L x L. q/k/v (b, h, L, hd) -> (b, h, L, hd). seg (b, L) optional: a query
    sees only keys of its own segment too (training's patch-bounded rows; segments_for())."""
    b, h, L, hd = q.shape
    n = -(-L // chunk)
    n_prev = -(-(window - 1) // chunk)                       # earlier chunks a query can reach
    pad_q = n * chunk - L
    K = (n_prev + 1) * chunk
    qc = F.pad(q, (0, 0, 0, pad_q)).view(b, h, n, chunk, hd)
    kv_pad = (0, 0, n_prev * chunk, pad_q)
    kc = F.pad(k, kv_pad).unfold(2, K, chunk).transpose(-1, -2)      # (b, h, n, K, hd)
    vc = F.pad(v, kv_pad).unfold(2, K, chunk).transpose(-1, -2)
    i = (torch.arange(n, device=q.device)[:, None, None] * chunk
         + torch.arange(chunk, device=q.device)[None, :, None])              # (n, chunk, 1)
    j = i - i % chunk - n_prev * chunk + torch.arange(K, device=q.device)[None, None, :]  # (n, chunk, K)
    allowed = (j >= 0) & (j <= i) & (i - j < window)
    if seg is not None:
        sq = F.pad(seg, (0, pad_q), value=-2).view(b, n, chunk)
        sk = F.pad(seg, (n_prev * chunk, pad_q), value=-2).unfold(1, K, chunk)     # (b, n, K)
        allowed = (allowed[None] & (sq[..., None] == sk[:, :, None, :]))[:, None]  # (b, 1, n, chunk, K)
    scores = qc @ kc.transpose(-1, -2) / math.sqrt(hd)                    # (b, h, n, chunk, K)
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    out = scores.softmax(-1) @ vc                                          # (b, h, n, chunk, hd)
    return out.view(b, h, n * chunk, hd)[:, :, :L]


class SelfAttention(nn.Module):
    """Multi-head self-attention with RoPE on q and k. forward takes either a window (windowed
    causal over consecutive byte positions) or an explicit boolean mask."""

    def __init__(self, dim, n_heads, rope_base):
        super().__init__()
        self.n_heads, self.rope_base = n_heads, rope_base
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def qkv(self, x, positions):
        q, k, v = (split_heads(w(x), self.n_heads) for w in (self.wq, self.wk, self.wv))
        cos, sin = rope_cos_sin(positions, q.shape[-1], self.rope_base)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def forward(self, x, positions, window=None, allowed=None, seg=None):
        q, k, v = self.qkv(x, positions)
        o = local_attend(q, k, v, window, seg=seg) if allowed is None else attend(q, k, v, allowed)
        return self.wo(merge_heads(o))


class CrossAttention(nn.Module):
    """Multi-head cross-attention, no RoPE: queries (dim) attend to keys/values (kv_dim)."""

    def __init__(self, dim, kv_dim, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(kv_dim, dim, bias=False)
        self.wv = nn.Linear(kv_dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def forward(self, x, kv, allowed):
        q = split_heads(self.wq(x), self.n_heads)
        k, v = split_heads(self.wk(kv), self.n_heads), split_heads(self.wv(kv), self.n_heads)
        return self.wo(merge_heads(attend(q, k, v, allowed)))


class TransformerLayer(nn.Module):
    """Pre-norm block: x += SelfAttention(norm(x)); x += SwiGLU(norm(x))."""

    def __init__(self, dim, n_heads, ffn_hidden, eps, rope_base):
        super().__init__()
        self.attn_norm = RMSNorm(dim, eps)
        self.attn = SelfAttention(dim, n_heads, rope_base)
        self.ffn_norm = RMSNorm(dim, eps)
        self.ffn = SwiGLU(dim, ffn_hidden)

    def forward(self, x, positions, window=None, allowed=None, seg=None):
        x = x + self.attn(self.attn_norm(x), positions, window, allowed, seg)
        return x + self.ffn(self.ffn_norm(x))


def causal_window_mask(L, window, device):
    """(1, L, L) bool: query i sees key j iff i - window < j <= i."""
    i = torch.arange(L, device=device)[:, None]
    j = torch.arange(L, device=device)[None, :]
    return ((j <= i) & (i - j < window))[None]


def byte_positions(b, L, device):
    return torch.arange(L, device=device)[None].expand(b, L)


# ---------------------------------------------------------------------------------------------
# Entropy model and patching

class EntropyModel(nn.Module):
    """Small causal byte transformer (windowed attention); its next-byte entropy places patches."""

    def __init__(self, cfg):
        super().__init__()
        e = cfg["entropy"]
        self.window = e["window"]
        self.tok_emb = nn.Embedding(VOCAB_SIZE, e["dim"])
        self.layers = nn.ModuleList(TransformerLayer(e["dim"], e["n_heads"], e["ffn_hidden"],
                                                     cfg["norm_eps"], cfg["rope_base"])
                                    for _ in range(e["n_layers"]))
        self.norm = RMSNorm(e["dim"], cfg["norm_eps"])
        self.head = nn.Linear(e["dim"], N_BYTE_LOGITS, bias=False)

    def forward(self, tokens):
        """tokens (b, L) -> logits (b, L, 256); position i predicts byte i+1."""
        b, L = tokens.shape
        x = self.tok_emb(tokens)
        positions = byte_positions(b, L, tokens.device)
        for layer in self.layers:
            x = layer(x, positions, window=self.window)
        return self.head(self.norm(x))

    @torch.no_grad()
    def entropies(self, tokens):
        """(b, L) -> H (b, L) in nats: H[:, i] = entropy of the prediction for byte i (made at
        position i-1). H[:, 0] (BOS) is 0 and never used."""
        return self.entropies_with_next(tokens)[:, :-1]

    @torch.no_grad()
    def entropies_with_next(self, tokens):
        """(b, L) -> H (b, L+1): as entropies(), plus H[:, L], the entropy of the byte after the
        last token (it decides whether that byte starts a patch, so which latent row L-1 reads)."""
        logp = self.forward(tokens).float().log_softmax(-1)
        h = -(logp.exp() * logp).sum(-1)                                       # (b, L)
        return torch.cat([torch.zeros_like(h[:, :1]), h], dim=1)


def patch_starts(entropies, threshold, max_patch_len):
    """entropies (b, L) -> is_start (b, L) bool. BOS (position 0) alone is patch 0; position 1
    always starts patch 1; byte i >= 2 starts a patch when H(i) > threshold or when the current
    patch already holds max_patch_len bytes."""
    b, L = entropies.shape
    is_start = torch.zeros(b, L, dtype=torch.bool, device=entropies.device)
    is_start[:, :2] = True
    above = (entropies > threshold).cpu()
    cur_len = torch.ones(b, dtype=torch.long)
    starts = is_start.cpu()
    for i in range(2, L):
        s = above[:, i] | (cur_len >= max_patch_len)
        starts[:, i] = s
        cur_len = torch.where(s, torch.ones_like(cur_len), cur_len + 1)
    return starts.to(entropies.device)


class Patches:
    """Patch layout of a batch, from is_start (b, L):
    ids (b, L) patch index of each byte; starts (b, P) and lens (b, P) (lens 0 = padding);
    count (b,) number of patches."""

    def __init__(self, is_start):
        b, L = is_start.shape
        self.ids = is_start.long().cumsum(1) - 1
        self.count = is_start.sum(1)
        P = int(self.count.max())
        self.starts = torch.full((b, P), L, dtype=torch.long, device=is_start.device)
        rows, cols = is_start.nonzero(as_tuple=True)
        self.starts[rows, self.ids[rows, cols]] = cols
        ends = torch.cat([self.starts[:, 1:], torch.full_like(self.starts[:, :1], L)], 1)
        ends = torch.where(torch.arange(P, device=is_start.device)[None] < self.count[:, None] - 1,
                           ends, torch.full_like(ends, L))
        self.lens = torch.where(self.starts < L, ends - self.starts, torch.zeros_like(ends))


# ---------------------------------------------------------------------------------------------
# Local encoder

def ngram_hash_rows(tokens, n, table_size):
    """tokens (b, L) -> rows (b, L): FNV-1a-style hash of the n tokens ending at each position
    (oldest first), each mapped to x = id + 1 (BOS -> 257), x = 0 before the sequence start:
    h = 2166136261; h = ((h ^ x) * 16777619) mod 2^32; row = h mod table_size."""
    b, L = tokens.shape
    x = torch.cat([torch.zeros(b, n - 1, dtype=torch.long, device=tokens.device), tokens.long() + 1], 1)
    h = torch.full((b, L), 2166136261, dtype=torch.long, device=tokens.device)
    for k in range(n):                                    # oldest token first
        h = ((h ^ x[:, k:k + L]) * 16777619) & 0xFFFFFFFF
    return h % table_size


class PatchPooling(nn.Module):
    """One vector per patch: q0 = max over the patch's byte states; one cross-attention from the
    query to that patch's bytes only (RMSNorm on query and keys); (result + q0) -> d_global."""

    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["local"]["dim"], cfg["norm_eps"]
        self.max_patch_len = cfg["patching"]["max_patch_len"]
        self.query_norm = RMSNorm(d, eps)
        self.kv_norm = RMSNorm(d, eps)
        self.attn = CrossAttention(d, d, cfg["pooling"]["n_heads"])
        self.proj = nn.Linear(d, cfg["global"]["dim"], bias=False)

    def forward(self, h, patches):
        """h (b, L, dl) byte states -> patch vectors (b, P, dg)."""
        b, L, d = h.shape
        P, M = patches.starts.shape[1], self.max_patch_len
        offs = torch.arange(M, device=h.device)
        idx = (patches.starts[:, :, None] + offs).clamp(max=L - 1)           # (b, P, M)
        valid = offs[None, None] < patches.lens[:, :, None]                   # (b, P, M)
        hb = h.gather(1, idx.view(b, P * M, 1).expand(b, P * M, d)).view(b * P, M, d)
        valid = valid.view(b * P, M)
        q0 = hb.masked_fill(~valid[..., None], torch.finfo(h.dtype).min).amax(1)  # (b*P, d)
        q0 = torch.where(valid.any(1, keepdim=True), q0, torch.zeros_like(q0))
        pooled = self.attn(self.query_norm(q0)[:, None], self.kv_norm(hb), valid[:, None]) # (b*P, 1, d)
        return self.proj(pooled[:, 0] + q0).view(b, P, -1)


class LocalEncoder(nn.Module):
    """Byte + hashed n-gram embeddings, windowed causal layers, then PatchPooling."""

    def __init__(self, cfg):
        super().__init__()
        loc = cfg["local"]
        self.window = loc["window"]
        self.ngram_sizes = cfg["ngram"]["sizes"]
        self.ngram_table_sizes = cfg["ngram"]["table_sizes"]
        self.tok_emb = nn.Embedding(VOCAB_SIZE, loc["dim"])
        self.ngram_emb = nn.ModuleDict({str(n): nn.Embedding(t, loc["dim"])
                                        for n, t in zip(self.ngram_sizes, self.ngram_table_sizes)})
        self.layers = nn.ModuleList(TransformerLayer(loc["dim"], loc["n_heads"], loc["ffn_hidden"],
                                                     cfg["norm_eps"], cfg["rope_base"])
                                    for _ in range(loc["n_encoder_layers"]))
        self.pooling = PatchPooling(cfg)

    def embed(self, tokens):
        """tokens (b, L) -> tok_emb[token] + sum_n ngram_emb_n[row_n]   (b, L, dl)."""
        x = self.tok_emb(tokens)
        for n, t in zip(self.ngram_sizes, self.ngram_table_sizes):
            x = x + self.ngram_emb[str(n)](ngram_hash_rows(tokens, n, t))
        return x

    def forward(self, tokens, patches, seg=None):
        """-> byte states h (b, L, dl) and patch vectors (b, P, dg)."""
        b, L = tokens.shape
        h = self.embed(tokens)
        positions = byte_positions(b, L, tokens.device)
        for layer in self.layers:
            h = layer(h, positions, window=self.window, seg=seg)
        return h, self.pooling(h, patches)


# ---------------------------------------------------------------------------------------------
# Global transformer

class GlobalTransformer(nn.Module):
    """Causal transformer over patch vectors (RoPE position = patch index); a final RMSNorm;
    output j is the latent of patch j."""

    def __init__(self, cfg):
        super().__init__()
        g = cfg["global"]
        self.layers = nn.ModuleList(TransformerLayer(g["dim"], g["n_heads"], g["ffn_hidden"],
                                                     cfg["norm_eps"], cfg["rope_base"])
                                    for _ in range(g["n_layers"]))
        self.norm = RMSNorm(g["dim"], cfg["norm_eps"])

    def forward(self, x):
        """patch vectors (b, P, dg) -> latents (b, P, dg)."""
        b, P, _ = x.shape
        positions = byte_positions(b, P, x.device)
        allowed = causal_window_mask(P, P, x.device)
        for layer in self.layers:
            x = layer(x, positions, allowed=allowed)
        return self.norm(x)


# ---------------------------------------------------------------------------------------------
# Local decoder

class DecoderLayer(nn.Module):
    """x += CrossAttention(norm(x), latents); x += SelfAttention(norm(x)); x += SwiGLU(norm(x)).
    Self-attention: clean rows are windowed causal over clean rows only; noisy rows use
    the explicit mask from decoder_masks (their clean prefix within the window, and their block)."""

    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["local"]["dim"], cfg["norm_eps"]
        self.window = cfg["local"]["window"]
        self.cross_norm = RMSNorm(d, eps)
        self.cross_attn = CrossAttention(d, cfg["global"]["dim"], cfg["local"]["n_heads"])
        self.attn_norm = RMSNorm(d, eps)
        self.attn = SelfAttention(d, cfg["local"]["n_heads"], cfg["rope_base"])
        self.ffn_norm = RMSNorm(d, eps)
        self.ffn = SwiGLU(d, cfg["local"]["ffn_hidden"])

    def forward(self, x, positions, n_clean, noisy_allowed, latents, cross_allowed, reads=None, seg=None):
        if reads is None:
            x = x + self.cross_attn(self.cross_norm(x), latents, cross_allowed)
        else:
            # Rule "one": a single allowed key, so softmax weight 1 and the output is wo(wv(latent)):
            # the same numbers as cross_attn with a one-hot mask, without the (L x P) scores.
            ca = self.cross_attn
            v = ca.wv(latents)                                                   # (b, P, dl)
            ok = (reads >= 0) & (reads < latents.shape[1])
            g = v.gather(1, reads.clamp(0, latents.shape[1] - 1)[..., None].expand(-1, -1, v.shape[-1]))
            x = x + ca.wo(g * ok[..., None].to(g.dtype))
        q, k, v = self.attn.qkv(self.attn_norm(x), positions)
        L = n_clean
        o = local_attend(q[:, :, :L], k[:, :, :L], v[:, :, :L], self.window, seg=seg)   # clean rows
        if q.shape[2] > L:                                                      # noisy rows
            o = torch.cat([o, attend(q[:, :, L:], k, v, noisy_allowed)], 2)
        x = x + self.attn.wo(merge_heads(o))
        return x + self.ffn(self.ffn_norm(x))


class NoisyBlocks:
    """N noisy-block slots per sequence, appended after the L clean positions in the decoder.
    tokens (b, N) input ids (MASK or the byte); positions (b, N) original byte positions;
    block (b, N) block index within the sequence (-1 = unused slot); start (b, N) the block's
    first position s; patch (b, N) index of the patch that starts at s; prefix (b, N) bool or None: the slots of
    a block's filled prefix (bytes s..s+p-1, all revealed), whose decoder rows start from the encoder's byte states
    instead of dec_tok_emb (prefix states, the engine's default at inference: src/protocol.ts BlockPrefix)."""

    def __init__(self, tokens, positions, block, start, patch, prefix=None):
        self.tokens, self.positions, self.block, self.start, self.patch = tokens, positions, block, start, patch
        self.prefix = prefix


def latent_index(is_start, n_tokens):
    """Which latent each clean decoder row reads under the paper's rule (docs/design.md section 1):
    row i predicts x(i+1) and reads the latent of the patch just before the patch containing
    x(i+1), i.e. ids[i] + starts[i+1] - 1: the previous patch's latent for a byte inside its patch,
    its own patch's latent for the last byte of a patch. is_start (b, L) or (b, L+1); with L
    columns the byte after the last token is taken not to start a patch."""
    b = is_start.shape[0]
    ids = is_start[:, :n_tokens].long().cumsum(1) - 1
    nxt = is_start[:, 1:n_tokens + 1].long()
    if nxt.shape[1] < n_tokens:
        nxt = torch.cat([nxt, torch.zeros(b, n_tokens - nxt.shape[1], dtype=torch.long, device=is_start.device)], 1)
    return ids + nxt - 1


def decoder_masks(patch_ids, n_latents, window, blocks=None, rule="v1", read_latent=None):
    """Masks for the decoder over [L clean | N noisy] positions.
    self (b, L+N, L+N): a clean query i sees clean keys j with i - window < j <= i; a noisy query
      at position p in a block starting at s sees clean keys j with j < s and p - window < j, and
      every position of its own block (both directions); nothing else.
    cross (b, L+N, P), by rule:
      "v1"  latents m < own patch (its patch index for clean bytes, the index of the patch
            starting at s for a block) -- the blt-d-* models;
      "one" exactly latent read_latent[i] (clean rows; latent_index()), and latent q-1 for a
            block starting patch q -- the paper's rule;
      "all" latents m <= that index.
    Returns positions (b, L+N), self mask, cross mask, and the latent each row reads (b, L+N)."""
    b, L = patch_ids.shape
    dev = patch_ids.device
    pos, lim, own_patch = byte_positions(b, L, dev), byte_positions(b, L, dev), patch_ids
    reads = read_latent if read_latent is not None else patch_ids - 1
    block = torch.full((b, L), -1, dtype=torch.long, device=dev)
    if blocks is not None:
        pos = torch.cat([pos, blocks.positions], 1)
        lim = torch.cat([lim, blocks.start - 1], 1)          # last visible clean position
        own_patch = torch.cat([own_patch, blocks.patch], 1)
        reads = torch.cat([reads, blocks.patch - 1], 1)
        block = torch.cat([block, blocks.block], 1)
    j = torch.arange(L, device=dev)[None, None]               # clean keys
    see_clean = (j <= lim[:, :, None]) & (pos[:, :, None] - j < window)
    if blocks is None:
        self_allowed = see_clean
    else:
        nb = blocks.block
        see_noisy = (block[:, :, None] == nb[:, None, :]) & (nb[:, None, :] >= 0)
        self_allowed = torch.cat([see_clean, see_noisy], 2)
    m = torch.arange(n_latents, device=dev)[None, None]
    if rule == "v1":
        cross_allowed = m < own_patch[:, :, None]
    elif rule == "one":
        cross_allowed = m == reads[:, :, None]
    elif rule == "all":
        cross_allowed = m <= reads[:, :, None]
    else:
        raise ValueError(f"unknown decoder latent rule {rule!r}")
    return pos, self_allowed, cross_allowed, reads


class LocalDecoder(nn.Module):
    """Clean positions start from the encoder's byte states, noisy-block positions from
    dec_tok_emb; layers of cross-attention to latents + windowed self-attention + SwiGLU;
    final RMSNorm and a 256-way byte head."""

    def __init__(self, cfg):
        super().__init__()
        loc = cfg["local"]
        self.window = loc["window"]
        self.latent_rule = loc.get("decoder_latents", "v1")
        self.dec_tok_emb = nn.Embedding(VOCAB_SIZE, loc["dim"])
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(loc["n_decoder_layers"]))
        self.norm = RMSNorm(loc["dim"], cfg["norm_eps"])
        self.head = nn.Linear(loc["dim"], N_BYTE_LOGITS, bias=False)

    def forward(self, h, latents, patch_ids, blocks=None, read_latent=None, seg=None):
        """h (b, L, dl), latents (b, P, dg), patch_ids (b, L) -> logits (b, L+N, 256).
        Clean row i predicts byte i+1; noisy row k predicts the byte at its own position.
        read_latent (b, L): the latent each clean row reads (rules "one"/"all"; latent_index())."""
        L = h.shape[1]
        if blocks is None:
            x = h
        else:
            xb = self.dec_tok_emb(blocks.tokens)
            if blocks.prefix is not None:
                # prefix states: a filled prefix slot at position p starts from h[p], which reads bytes <= p only,
                # all of them committed or in that prefix (no masked byte leaks)
                hp = torch.gather(h, 1, blocks.positions.clamp(0, L - 1)[..., None].expand(-1, -1, h.shape[2]))
                xb = torch.where(blocks.prefix[..., None], hp, xb)
            x = torch.cat([h, xb], 1)
        positions, self_allowed, cross_allowed, reads = decoder_masks(
            patch_ids, latents.shape[1], self.window, blocks, self.latent_rule, read_latent)
        noisy_allowed = self_allowed[:, L:]
        one = reads if self.latent_rule == "one" else None
        for layer in self.layers:
            x = layer(x, positions, L, noisy_allowed, latents, cross_allowed, one, seg)
        return self.head(self.norm(x))


# ---------------------------------------------------------------------------------------------
# The whole model

class BLT(nn.Module):
    """Byte Latent Transformer with the BLT-D block-diffusion decoder path."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.entropy_model = EntropyModel(cfg)
        self.local_encoder = LocalEncoder(cfg)
        self.global_transformer = GlobalTransformer(cfg)
        self.local_decoder = LocalDecoder(cfg)
        self.apply(init_weights)

    @torch.no_grad()
    def patch(self, tokens, with_next=False):
        """tokens (b, L) -> is_start (b, L), using the frozen entropy model and config threshold;
        with_next: (b, L+1), the last column saying whether the byte after the last token starts
        a patch (which latent the last row reads under the paper's rule)."""
        p = self.cfg["patching"]
        H = self.entropy_model.entropies_with_next(tokens) if with_next else self.entropy_model.entropies(tokens)
        return patch_starts(H, p["threshold"], p["max_patch_len"])

    def forward(self, tokens, is_start, blocks=None, latent_hook=None, bound=None):
        """tokens (b, L) clean ids starting with BOS; is_start (b, L) patch starts, or (b, L+1)
        from patch(with_next=True); blocks optional NoisyBlocks; bound (b,) bool, training only:
        those sequences' local attention stays inside each byte's own patch (segments_for()).
        Returns a dict of every component's output."""
        L = tokens.shape[1]
        patches = Patches(is_start[:, :L])
        seg = segments_for(patches, bound)
        h, patch_vecs = self.local_encoder(tokens, patches, seg)               # (b,L,dl), (b,P,dg)
        latents = self.global_transformer(patch_vecs)                          # (b, P, dg)
        if latent_hook is not None:
            latents = latent_hook(latents)
        reads = latent_index(is_start, L)                                      # (b, L)
        logits = self.local_decoder(h, latents, patches.ids, blocks, reads, seg)  # (b, L+N, 256)
        return {"patches": patches, "byte_states": h, "patch_vectors": patch_vecs, "latents": latents,
                "logits": logits[:, :L], "noisy_logits": logits[:, L:]}


def segments_for(patches, bound):
    """Training-only patch-bounded rows (docs/notes/model-v2-runs.md, the fourth run): for the sequences where
    bound is true, every byte's local attention (encoder, and the decoder's clean rows) sees only
    bytes of its own patch, so what lies before the patch reaches a decoder row through the latent
    alone -- MegaByte's layout. The other sequences, and inference, keep the plain window.
    Returns seg (b, L) for local_attend, or None."""
    if bound is None or not bool(bound.any()):
        return None
    return torch.where(bound[:, None], patches.ids, torch.full_like(patches.ids, -1))


def init_weights(module):
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)


def count_params(module):
    return sum(p.numel() for p in module.parameters())

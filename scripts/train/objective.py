"""BLT-D training objective (fast-blt.md section 2): next-byte loss on the clean sequence plus a
block-wise masked-diffusion loss, both from one decoder pass over [clean | noisy blocks].
Batches are drawn with a numpy Generator so that a checkpoint can restore the exact stream.
"""
import numpy as np
import torch
import torch.nn.functional as F

from .model import BOS_ID, MASK_ID, NoisyBlocks, Patches

IGNORE = -100


def sample_windows(data, n, seq_len, rng):
    """n random crops of seq_len bytes -> tokens (n, seq_len) = [BOS, c0 .. c_{L-2}] and
    targets (n, seq_len) = [c0 .. c_{L-1}]: every position, the last included, is supervised."""
    offsets = rng.integers(0, len(data) - seq_len, size=n)
    return windows_at(data, offsets, seq_len)


def windows_at(data, offsets, seq_len):
    crops = np.stack([data[o:o + seq_len] for o in offsets]).astype(np.int64)
    tokens = np.concatenate([np.full((len(offsets), 1), BOS_ID, dtype=np.int64), crops[:, :-1]], 1)
    return torch.from_numpy(tokens), torch.from_numpy(crops)


def sample_blocks(tokens, patches, block_sizes, n_slots, rng, t_min):
    """Pick noisy blocks for each sequence.
    Per sequence: block size B from block_sizes, t ~ U(t_min, 1), up to n_slots // B blocks chosen
    at random among the patch starts s >= 1 (patch 0 = BOS gets none). A block covers positions
    s .. s+B-1; each byte is replaced by MASK with probability t; positions past the sequence end
    are MASK inputs with ignored targets. Returns NoisyBlocks, targets (b, n_slots) (the clean
    byte at the slot's own position where masked, IGNORE elsewhere), t (b,), block size (b,)."""
    b, L = tokens.shape
    tok = tokens.cpu().numpy()
    starts, counts = patches.starts.cpu().numpy(), patches.count.cpu().numpy()
    f = lambda v: np.full((b, n_slots), v, dtype=np.int64)
    inp, pos, blk, st, pat, tgt = f(MASK_ID), f(0), f(-1), f(0), f(0), f(IGNORE)
    t = rng.uniform(t_min, 1.0, size=b)
    sizes = rng.choice(block_sizes, size=b)
    for i in range(b):
        B = int(sizes[i])
        chosen = rng.permutation(np.arange(1, counts[i]))[:n_slots // B]
        for k, q in enumerate(np.sort(chosen)):
            s = int(starts[i, q])
            sl = slice(k * B, (k + 1) * B)
            p = np.arange(s, s + B)
            inside = p < L
            clean = tok[i, np.minimum(p, L - 1)]
            masked = rng.random(B) < t[i]
            inp[i, sl] = np.where(masked | ~inside, MASK_ID, clean)
            tgt[i, sl] = np.where(masked & inside, clean, IGNORE)
            pos[i, sl], blk[i, sl], st[i, sl], pat[i, sl] = p, k, s, q
    T = lambda a: torch.from_numpy(a).to(tokens.device)
    blocks = NoisyBlocks(T(inp), T(pos), T(blk), T(st), T(pat))
    real = T(((blk >= 0) & (pos < L)).sum(1))
    return blocks, T(tgt), torch.from_numpy(t).float().to(tokens.device), real


def bltd_loss(model, tokens, targets, is_start, rng, diffusion=True):
    """L = L_AR + L_diff with L_diff = mean over sequences of (1/t) * sum of CE at masked
    positions / number of in-sequence block positions (the masked-diffusion ELBO; its expectation
    is the mean CE per masked byte). Returns (loss, stats dict)."""
    patches = Patches(is_start[:, :tokens.shape[1]])
    blocks = diff_targets = None
    if diffusion:
        d = model.cfg["diffusion"]
        blocks, diff_targets, t, real = sample_blocks(tokens, patches, d["block_sizes"], d["train_slots"], rng, d["t_min"])
    out = model(tokens, is_start, blocks)
    ar = F.cross_entropy(out["logits"].reshape(-1, 256).float(), targets.reshape(-1))
    stats = {"ar": ar.item()}
    loss = ar
    if diffusion:
        ce = F.cross_entropy(out["noisy_logits"].reshape(-1, 256).float(), diff_targets.reshape(-1),
                             ignore_index=IGNORE, reduction="none").view(diff_targets.shape)
        per_seq = ce.sum(1) / real.clamp(min=1).float() / t
        diff = per_seq.mean()
        loss = loss + diff
        n_masked = (diff_targets != IGNORE).sum().clamp(min=1)
        stats["diff"] = diff.item()
        stats["diff_ce_masked"] = (ce.sum() / n_masked).item()
        hit = (out["noisy_logits"].argmax(-1) == diff_targets) & (diff_targets != IGNORE)
        stats["diff_acc"] = (hit.sum() / n_masked).item()
    return loss, stats

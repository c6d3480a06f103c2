"""BLT-D training objective (docs/design.md section 2): next-byte loss on the clean sequence plus a
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


def sample_blocks(tokens, patches, block_sizes, n_slots, rng, t_min, cuts=None, prefix_states=False):
    """Pick noisy blocks for each sequence.
    Per sequence: block size B from block_sizes, t ~ U(t_min, 1), up to n_slots // B blocks chosen
    at random among the patch starts s >= 1 (patch 0 = BOS gets none); with cuts (force_cuts), at the cuts first. A block covers positions
    s .. s+B-1; each byte is replaced by MASK with probability t; positions past the sequence end
    are MASK inputs with ignored targets. prefix_states: each block's leading revealed bytes start from their
    byte states (NoisyBlocks.prefix), as the engine decodes by default. Returns NoisyBlocks, targets (b, n_slots)
    (the clean byte at the slot's own position where masked, IGNORE elsewhere), t (b,), block size (b,)."""
    b, L = tokens.shape
    tok = tokens.cpu().numpy()
    starts, counts = patches.starts.cpu().numpy(), patches.count.cpu().numpy()
    f = lambda v: np.full((b, n_slots), v, dtype=np.int64)
    inp, pos, blk, st, pat, tgt = f(MASK_ID), f(0), f(-1), f(0), f(0), f(IGNORE)
    pre = np.zeros((b, n_slots), dtype=bool)
    t = rng.uniform(t_min, 1.0, size=b)
    sizes = rng.choice(block_sizes, size=b)
    for i in range(b):
        B = int(sizes[i])
        if cuts and cuts[i]:                  # blocks right after forced cuts (force_cuts), then others
            at_cut = np.searchsorted(starts[i, :counts[i]], cuts[i])
            rest = np.setdiff1d(np.arange(1, counts[i]), at_cut)
            chosen = np.concatenate([at_cut, rng.permutation(rest)])[:n_slots // B]
        else:
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
            pre[i, sl] = np.cumprod(~masked & inside).astype(bool)      # the filled prefix: revealed from the start
            pos[i, sl], blk[i, sl], st[i, sl], pat[i, sl] = p, k, s, q
    T = lambda a: torch.from_numpy(a).to(tokens.device)
    blocks = NoisyBlocks(T(inp), T(pos), T(blk), T(st), T(pat), T(pre) if prefix_states else None)
    real = T(((blk >= 0) & (pos < L)).sum(1))
    return blocks, T(tgt), torch.from_numpy(t).float().to(tokens.device), real


def force_cuts(is_start, n_tokens, n_cuts, rng, fraction):
    """Train/inference consistency (docs/design.md section 2): at inference a BLT-D block always follows a patch
    force-closed where the committed text ends. For `fraction` of the sequences, cut n_cuts patches at random
    non-boundary positions c >= 2 (c becomes a patch start, so the patch before it ends early and its latent
    pools the cut patch); sample_blocks then puts the blocks at those cuts. Returns (is_start, cuts) with
    cuts[i] the list of cut positions of sequence i ([] when not cut)."""
    is_start = is_start.clone()
    cuts = []
    for i in range(is_start.shape[0]):
        if rng.random() >= fraction:
            cuts.append([])
            continue
        free = np.flatnonzero(~is_start[i, 2:n_tokens].cpu().numpy()) + 2
        chosen = np.sort(rng.permutation(free)[:n_cuts]).tolist()
        is_start[i, chosen] = True
        cuts.append(chosen)
    return is_start, cuts


class NextBytesHead(torch.nn.Module):
    """Training-only auxiliary head (not exported): from latent j alone, predict the K bytes that follow
    patch j. It makes the global model carry what comes next (docs/notes/model-v2-runs.md: without it the latents
    collapsed to a near-constant vector the decoder used as a bias)."""

    def __init__(self, dim, n_bytes):
        super().__init__()
        self.n_bytes = n_bytes
        self.proj = torch.nn.Linear(dim, n_bytes * 256, bias=False)
        torch.nn.init.normal_(self.proj.weight, std=0.02)

    def loss(self, latents, patches, tokens, targets):
        """latents (b, P, dg); the bytes after patch j start at position starts[j+1] (targets[p-1] is the
        byte at position p); positions past the window are ignored. Mean CE in nats."""
        b, P, _ = latents.shape
        L = tokens.shape[1]
        nxt = torch.cat([patches.starts[:, 1:], torch.full_like(patches.starts[:, :1], L)], 1)    # (b, P)
        pos = nxt[:, :, None] + torch.arange(self.n_bytes, device=tokens.device)                  # (b, P, K)
        valid = (pos < L + 1) & (torch.arange(P, device=tokens.device)[None, :, None] < patches.count[:, None, None] - 1)
        want = targets.gather(1, (pos - 1).clamp(0, L - 1).view(b, -1)).view(b, P, self.n_bytes)
        want = torch.where(valid, want, torch.full_like(want, IGNORE))
        logits = self.proj(latents).view(b, P, self.n_bytes, 256)
        return F.cross_entropy(logits.reshape(-1, 256).float(), want.reshape(-1), ignore_index=IGNORE)


def ar_rows(logits, positions):
    """The AR path's logits for the byte at each noisy slot's position p: clean row p-1 predicts the byte at p.
    logits (b, L, 256); positions (b, N), p >= 1 (clamped where a slot runs past L) -> (b, N, 256)."""
    rows = (positions - 1).clamp(0, logits.shape[1] - 1)
    return logits.gather(1, rows[..., None].expand(-1, -1, logits.shape[-1]))


def ar_teacher(logits, positions):
    """The AR path's distribution (detached, f32) for the byte at each noisy slot's position (ar_rows)."""
    return ar_rows(logits.detach(), positions).float().softmax(-1)


def objective_weights(cfg):
    """(diffusion weight, next-bytes weight or None) under cfg's training settings, which may change between
    segments: train.diffusion_weight (default 1) and train.next_bytes_weight (default: the weight the model
    config gave the head; None without the head)."""
    tc, aux = cfg["train"], cfg["model"]["global"].get("next_bytes_aux")
    return tc.get("diffusion_weight", 1.0), (tc.get("next_bytes_weight", aux["weight"]) if aux else None)


def bltd_loss(model, tokens, targets, is_start, rng, diffusion=True, aux=None, bound_fraction=0.0,
              diffusion_weight=1.0, prefix_states=False, distill=0.0):
    """L = L_AR + w * L_diff with L_diff = mean over sequences of (1/t) * sum of CE at masked
    positions / number of in-sequence block positions (the masked-diffusion ELBO; its expectation
    is the mean CE per masked byte). bound_fraction: the last round(f * b) sequences of the batch
    train with patch-bounded local attention (model.segments_for). distill (self-distillation, default 0 = the
    paper's loss): a masked byte's target is (1 - distill) * its one-hot byte + distill * the AR path's own
    distribution for that byte (same forward, detached), so the diffusion path learns the AR path's prediction,
    not only the data's. Returns (loss, stats dict)."""
    blocks = diff_targets = None
    cuts = None
    if diffusion and model.cfg["diffusion"].get("forced_cut_fraction", 0) > 0:
        d = model.cfg["diffusion"]
        is_start, cuts = force_cuts(is_start, tokens.shape[1], d["train_slots"] // max(d["block_sizes"]), rng,
                                    d["forced_cut_fraction"])
    patches = Patches(is_start[:, :tokens.shape[1]])
    if diffusion:
        d = model.cfg["diffusion"]
        blocks, diff_targets, t, real = sample_blocks(tokens, patches, d["block_sizes"], d["train_slots"], rng, d["t_min"], cuts,
                                                      prefix_states)
    b = tokens.shape[0]
    n_bound = round(bound_fraction * b)
    bound = (torch.arange(b, device=tokens.device) >= b - n_bound) if n_bound else None
    out = model(tokens, is_start, blocks, bound=bound)
    per_byte = F.cross_entropy(out["logits"].reshape(-1, 256).float(), targets.reshape(-1), reduction="none").view(b, -1)
    ar = per_byte.mean()
    stats = {"ar": ar.item()}
    if n_bound and n_bound < b:
        stats["ar_bounded"] = per_byte[b - n_bound:].mean().item()
    loss = ar
    if aux is not None:
        head, weight = aux
        next_bytes = head.loss(out["latents"], patches, tokens, targets)
        loss = loss + weight * next_bytes
        stats["next_bytes"] = next_bytes.item()
    if diffusion:
        ce = F.cross_entropy(out["noisy_logits"].reshape(-1, 256).float(), diff_targets.reshape(-1),
                             ignore_index=IGNORE, reduction="none").view(diff_targets.shape)
        masked = diff_targets != IGNORE
        used = ce
        if distill > 0:
            teacher = ar_teacher(out["logits"], blocks.positions)         # (b, N, 256): AR's distribution per slot
            soft = -(teacher * out["noisy_logits"].float().log_softmax(-1)).sum(-1)
            used = (1 - distill) * ce + distill * torch.where(masked, soft, torch.zeros_like(soft))
        per_seq = used.sum(1) / real.clamp(min=1).float() / t
        diff = per_seq.mean()
        loss = loss + diffusion_weight * diff
        n_masked = masked.sum().clamp(min=1)
        stats["diff"] = diff.item()
        stats["diff_ce_masked"] = (ce.sum() / n_masked).item()
        guess = out["noisy_logits"].argmax(-1)
        hit = (guess == diff_targets) & masked
        stats["diff_acc"] = (hit.sum() / n_masked).item()
        same = (guess == ar_rows(out["logits"].detach(), blocks.positions).argmax(-1)) & masked
        stats["diff_agree_ar"] = (same.sum() / n_masked).item()
    return loss, stats

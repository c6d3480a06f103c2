"""How often BLT-D's prediction of a block byte is AR's, teacher-forced on held-out text (docs/notes/model-v2-runs.md).

BLT-D greedy agrees with greedy AR on a position only while every byte before it agreed too, so its agreement is
bounded by how often the diffusion path's argmax for a block byte equals the AR path's argmax for the same byte
given the same text. For each of --cuts positions s per test window (a patch force-closed at s, as BLT-D's
committed text ends), and each j < B: the block's bytes s..s+j-1 revealed (the true text), the rest masked; the
argmax of block row j (predicting byte s+j) against the AR logits' argmax for byte s+j (normal entropy patches)
and against the true byte.

    /usr/bin/python3 -m scripts.train.diffusion_agreement --model models/blt-v2 [--windows 16] [--prefix states|tokens] [--json]
      [--snapshot runs/R/snapshots/NNNNNN.pt]   (a training snapshot's weights, with --model's config and test split)
"""
import argparse
import json
import os

import numpy as np
import torch

from . import data as corpus
from .export import load_model, test_window_indices
from .model import MASK_ID, NoisyBlocks, Patches
from .objective import force_cuts, windows_at


@torch.no_grad()
def block_agreement(model, tokens, targets, block_size, cuts, seed=0, prefix="states"):
    """Per block position j, over all cuts: diffusion argmax == AR argmax, diffusion accuracy, AR accuracy, and the
    same two for a *block-latent AR*: the causal path with the block made one patch (no patch starts inside it), so
    its rows read only the latents BLT-D's block reads (none made from the block's own bytes), as a ceiling on what
    any decoder with BLT-D's latents shares with AR. prefix "states": the revealed bytes' rows start from their byte
    states (the engine's default); "tokens": from dec_tok_emb (the paper's input, as trained)."""
    rng = np.random.default_rng(seed)
    B = block_size
    agree, d_hit, a_hit, n, s_agree, s_hit = (np.zeros(B) for _ in range(6))
    for k in range(len(tokens)):
        tok = tokens[k:k + 1]
        L = tok.shape[1]
        is_start = model.patch(tok, with_next=True)
        ar = model(tok, is_start)["logits"].argmax(-1)[0]            # row p predicts the byte at p+1
        is_start, cut_lists = force_cuts(is_start, L - B, cuts, rng, 1.0)
        at = cut_lists[0]
        m = len(at)
        patches = Patches(is_start[:, :L])
        pos = torch.tensor([[s + j for s in at for j in range(B)]])
        blk = torch.arange(m).repeat_interleave(B)[None]
        st = torch.tensor(at).repeat_interleave(B)[None]
        pat = patches.ids[0, st[0]][None]
        p = torch.tensor(at)
        one_patch = is_start.repeat(m, 1)                             # copy c: cut c's block is one patch
        for c, s in enumerate(at):
            one_patch[c, s + 1:s + B] = False
        rows = (p[:, None] + torch.arange(B)[None] - 1)               # copy c's rows predicting its block's bytes
        stale = model(tok.repeat(m, 1), one_patch)["logits"].argmax(-1).gather(1, rows)
        for j in range(B):
            ids = torch.full_like(pos, MASK_ID)
            for i in range(j):                                        # bytes s..s+j-1 revealed
                ids[0, torch.arange(m) * B + i] = tok[0, p + i]
            filled = (torch.arange(m * B) % B < j)[None] if prefix == "states" else None
            out = model(tok, is_start, NoisyBlocks(ids, pos, blk, st, pat, filled))
            d = out["noisy_logits"].argmax(-1)[0].view(m, B)[:, j]
            truth, a = targets[k, p + j - 1], ar[p + j - 1]
            agree[j] += int((d == a).sum())
            d_hit[j] += int((d == truth).sum())
            a_hit[j] += int((a == truth).sum())
            s_agree[j] += int((stale[:, j] == a).sum())
            s_hit[j] += int((stale[:, j] == truth).sum())
            n[j] += m
    return agree / n, d_hit / n, a_hit / n, s_agree / n, s_hit / n, int(n[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/blt-v2")
    ap.add_argument("--windows", type=int, default=16, help="test windows, spread over the test split")
    ap.add_argument("--cuts", type=int, default=24, help="block starts per window")
    ap.add_argument("--prefix", choices=("states", "tokens"), default="states",
                    help="what the revealed bytes' rows start from (the engine's block_prefix)")
    ap.add_argument("--snapshot", help="weights from a training snapshot (train.save_snapshot) of --model's architecture")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    manifest, _, test = corpus.model_test_split(args.model)
    model, cfg = load_model(os.path.join(args.model, "model.safetensors"))
    if args.snapshot:
        model.load_state_dict(torch.load(args.snapshot, map_location="cpu")["model"])
    L = manifest["evaluation"]["window_bytes"]
    idx = test_window_indices((len(test) - 1) // L, args.windows)
    tokens, targets = windows_at(test, idx * L, L)
    B = cfg["diffusion"]["default_block_size"]
    agree, d_acc, a_acc, s_agree, s_acc, blocks = block_agreement(model, tokens, targets, B, args.cuts, prefix=args.prefix)
    result = {"model": args.snapshot or args.model, "windows": args.windows, "blocks": blocks, "block_size": B, "prefix": args.prefix,
              "diffusion_equals_ar_argmax": np.round(agree, 3).tolist(),
              "diffusion_accuracy": np.round(d_acc, 3).tolist(), "ar_accuracy": np.round(a_acc, 3).tolist(),
              "block_latent_ar_equals_ar_argmax": np.round(s_agree, 3).tolist(),
              "block_latent_ar_accuracy": np.round(s_acc, 3).tolist()}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['model']}: {blocks} blocks of {B} in {args.windows} test windows (bytes before j revealed, "
          f"their rows from {'byte states' if args.prefix == 'states' else 'token embeddings'})")
    print("j                                 " + " ".join(f"{j:>6}" for j in range(B)))
    for key in ("diffusion_equals_ar_argmax", "diffusion_accuracy", "ar_accuracy", "block_latent_ar_equals_ar_argmax",
                "block_latent_ar_accuracy"):
        print(f"{key:<34}" + " ".join(f"{v:6.3f}" for v in result[key]))


if __name__ == "__main__":
    main()

"""One line per run directory matching a glob: its last validation record (bits per byte, without and with
shuffled latents, the latent gap, masked accuracy in both layouts, training seconds). Used by ablate.sh and forks.sh.
    /usr/bin/python3 -m scripts.train.runs_table "runs/fork-*"
"""
import glob
import json
import sys


def line(name, r):
    nan = float("nan")
    return (f"{name:20s} step {r['step']:5d}  val bpb {r['val_bpb']:.4f}  without latents {r['val_bpb_without_latents']:.4f}  "
            f"gap {r['val_bpb_without_latents'] - r['val_bpb']:+.4f}  shuffled {r.get('val_bpb_shuffled_latents', nan):.4f}  "
            f"masked acc {r.get('val_masked_acc_training_layout', nan):.3f} (entropy starts) "
            f"{r.get('val_masked_acc_inference_layout', nan):.3f} (forced cuts)  {r['seconds']:.0f} s")


def main(pattern):
    for path in sorted(glob.glob(f"{pattern}/log.jsonl")):
        recs = [json.loads(l) for l in open(path) if '"val_bpb"' in l]
        if recs:
            print(line(path.split("/")[-2], recs[-1]))


if __name__ == "__main__":
    main(sys.argv[1])

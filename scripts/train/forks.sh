#!/bin/sh
# Fork-and-compare from the committed state (train-state/v2): each fork resumes a private copy of it,
# trains FORK_STEPS steps on the same data order with one training setting changed
# (configs/fork-*.json), and evaluates on the same validation windows; then a table.
#   FORKS="base diff03" FORK_STEPS=150 sh scripts/train/forks.sh
set -e
cd "$(dirname "$0")/../.."
steps=${FORK_STEPS:-150}
for f in ${FORKS:-base diff03 bound25 aux015}; do
  [ -f runs/fork-$f/done ] && continue
  mkdir -p runs/fork-$f-state && cp train-state/v2/ckpt.pt runs/fork-$f-state/ckpt.pt
  from=$(/usr/bin/python3 -c "import torch; print(torch.load('train-state/v2/ckpt.pt', map_location='cpu')['progress']['step'])")
  /usr/bin/python3 -m scripts.train.train --config fork-$f --run runs/fork-$f --state runs/fork-$f-state \
    --stop-at-step $((from + steps)) > runs/fork-$f.log 2>&1
  touch runs/fork-$f/done
done
/usr/bin/python3 - <<'PY'
import json, glob
for path in sorted(glob.glob("runs/fork-*/log.jsonl")):
    recs = [json.loads(l) for l in open(path) if '"val_bpb"' in l]
    if recs:
        r = recs[-1]
        print(f"{path.split('/')[1]:16s} step {r['step']:5d}  val bpb {r['val_bpb']:.4f}  without latents "
              f"{r['val_bpb_without_latents']:.4f}  gap {r['val_bpb_without_latents'] - r['val_bpb']:+.4f}  "
              f"shuffled {r['val_bpb_shuffled_latents']:.4f}  masked acc {r.get('val_masked_acc_inference_layout', float('nan')):.3f}  "
              f"{r['seconds']:.0f} s")
PY

#!/bin/sh
# Short ablation runs at equal steps (configs/ablate-*.json, 80 steps of 4 x 2048 bytes each), all on
# one trained entropy model (runs/v2-entropy), then a table of held-out bpb with and without latents.
#   sh scripts/train/ablate.sh            # after: python3 -m scripts.train.train --config v2 --run runs/v2-entropy --max-seconds 0.001
set -e
cd "$(dirname "$0")/../.."
for c in ${ABLATIONS:-w128-v1 w128-one w32-one w32-all w32-one-cuts}; do
  [ -f runs/ablate-$c/done ] && continue
  /usr/bin/python3 -m scripts.train.train --config ablate-$c --init-entropy-from runs/v2-entropy > runs/ablate-$c.log 2>&1
  touch runs/ablate-$c/done
done
/usr/bin/python3 - <<'PY'
import json, glob
for path in sorted(glob.glob("runs/ablate-*/log.jsonl")):
    recs = [json.loads(l) for l in open(path) if '"val_bpb"' in l]
    if recs:
        r = recs[-1]
        print(f"{path.split('/')[1]:20s} step {r['step']:4d}  val bpb {r['val_bpb']:.3f}  without latents "
              f"{r['val_bpb_without_latents']:.3f}  gap {r['val_bpb_without_latents'] - r['val_bpb']:+.3f}  "
              f"masked acc {r.get('val_masked_acc_training_layout', float('nan')):.3f} (entropy starts) "
              f"{r.get('val_masked_acc_inference_layout', float('nan')):.3f} (forced cuts)  {r['seconds']:.0f} s")
PY

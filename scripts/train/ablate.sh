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
/usr/bin/python3 -m scripts.train.runs_table "runs/ablate-*"

#!/bin/sh
# Fork-and-compare from the committed state (train-state/v2): each fork resumes a private copy of it,
# trains FORK_STEPS steps on the same data order with one training setting changed
# (configs/fork-*.json), and evaluates on the same validation windows; then a table.
#   FORKS="base diff03" FORK_STEPS=150 sh scripts/train/forks.sh
set -e
cd "$(dirname "$0")/../.."
steps=${FORK_STEPS:-150}
from=$(/usr/bin/python3 -c "import torch; print(torch.load('train-state/v2/ckpt.pt', map_location='cpu')['progress']['step'])")
for f in ${FORKS:-base diff03 bound25 aux015}; do
  [ -f runs/fork-$f/done ] && continue
  mkdir -p runs/fork-$f-state && cp train-state/v2/ckpt.pt runs/fork-$f-state/ckpt.pt
  /usr/bin/python3 -m scripts.train.train --config fork-$f --run runs/fork-$f --state runs/fork-$f-state \
    --stop-at-step $((from + steps)) > runs/fork-$f.log 2>&1
  touch runs/fork-$f/done
done
/usr/bin/python3 -m scripts.train.runs_table "runs/fork-*"

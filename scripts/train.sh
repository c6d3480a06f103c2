#!/bin/sh
# Start, or resume from its latest checkpoint, a training run in the background:
#   scripts/train.sh small            # runs/small/, log in runs/small/train.log
#   scripts/train.sh small-ar --max-steps 2400
# Export afterwards: /usr/bin/python3 -m scripts.train.export --run runs/small --out models/blt-d-small
set -e
cd "$(dirname "$0")/.."
name="$1"; shift
mkdir -p "runs/$name"
nohup nice -n 19 /usr/bin/python3 -m scripts.train.train --config "$name" "$@" >> "runs/$name/train.log" 2>&1 &
echo "training $name in the background (pid $!); tail -f runs/$name/train.log"

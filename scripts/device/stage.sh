#!/usr/bin/env bash
# Assembles what travels to the device machine for scripts/device/run.sh: the Python code it runs (scripts/pool,
# scripts/train, scripts/device with the TS engine's parity outputs), the two models it reads (blt-v2's and
# blt-d-tiny's f32 weights and manifests) and the v2 corpus's prepared splits gzipped (built here from the npm
# packages in node_modules when data/v2 is missing; the device machine has neither Node nor node_modules). Nothing
# else: no node_modules, no int8 or golden files, no training state.
#   bash scripts/device/stage.sh DIR      (DIR is emptied first; the last line printed is its size in bytes)
# Fails when DIR would be over 60 MiB. Also prints what this checkout's device call would send besides DIR (tracked
# and untracked-not-ignored files), since the call's 64 MiB counts those too (docs/pool.md, "The device run").
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR="${1:?usage: bash scripts/device/stage.sh DIR}"
LIMIT=$((60 << 20))
if [ -n "${BLTEDGE_PYTHON:-}" ]; then PY="$BLTEDGE_PYTHON"
elif python3 -c "import torch, numpy" 2>/dev/null; then PY=python3
else PY=/usr/bin/python3; fi
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
case "$DIR/" in "$PWD/"|"$PWD/scripts/"*|"$PWD/models/"*|"$PWD/src/"*) echo "stage.sh: $DIR is inside what it copies" >&2; exit 2;; esac
find "$DIR" -mindepth 1 -delete
mkdir -p "$DIR/models" "$DIR/src"
git ls-files -z --cached --others --exclude-standard -- scripts/pool scripts/train scripts/device \
  | grep -zE '\.(py|json|sh)$' | xargs -0 cp --parents -t "$DIR"
cp src/config.ts "$DIR/src/"          # the pool worker reads the default model's name there
for m in blt-v2 blt-d-tiny; do
  mkdir -p "$DIR/models/$m"
  cp "models/$m/model.safetensors" "models/$m/manifest.json" "$DIR/models/$m/"
done
"$PY" -m scripts.device.corpus pack "$DIR" --set v2 >&2
git rev-parse HEAD > "$DIR/COMMIT" 2>/dev/null || true
SIZE=$(du -sb "$DIR" | cut -f1)
if git rev-parse --git-dir >/dev/null 2>&1; then
  TREE=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 -r stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
  echo "this checkout's tracked and untracked-not-ignored files: $TREE bytes; with $DIR carried: $((TREE + SIZE)) bytes" \
       "(the device call's limit: $((64 << 20)))" >&2
fi
if [ "$SIZE" -gt "$LIMIT" ]; then echo "stage.sh: $DIR is $SIZE bytes, over 60 MiB ($LIMIT)" >&2; echo "$SIZE"; exit 1; fi
echo "$SIZE"

#!/usr/bin/env bash
# The PyTorch pool worker on an NVIDIA GPU, checked and measured in one run; under 8 minutes.
#   bash scripts/device-check.sh [results-folder]      (default: $OUT/device-check, else ./device-check-results)
#   BLTEDGE_CHECK_DEVICE=cpu bash scripts/device-check.sh /tmp/dc   (a dry run of the script itself, on the CPU)
# Needs: a CUDA build of PyTorch in $BLTEDGE_PYTHON (default /usr/bin/python3) with pytest, and Node >= 20 with
# `npm ci` done (the TypeScript engine is the reference and the bench client). Writes, in the results folder:
#   env.txt          GPU, driver, torch, node
#   parity.log       the worker's protocol and parity tests on CUDA, f32 (greedy bytes equal the TS engine's in every
#                    mode, latent rule and block commit, 40 requests batched)
#   agree-f32.jsonl, agree-bf16.jsonl   how many greedy bytes agree with the TS engine per case (bf16 drifts at ties)
#   bench.jsonl      npm run bench:pool on CUDA (bf16): every mode at concurrency 1, 8 and 32; bench-f32.jsonl: AR only
#   compile.log      the same AR bench with --compile where torch has torch.compile
#   summary.txt      one line per step: ok / FAILED / skipped, and the bench table
# Every step has its own time limit; a failing step is recorded and the next one runs.
set -u
cd "$(dirname "$0")/.."
RES="${1:-${OUT:+$OUT/device-check}}"
RES="${RES:-device-check-results}"
mkdir -p "$RES"
PY="${BLTEDGE_PYTHON:-/usr/bin/python3}"
DEV="${BLTEDGE_CHECK_DEVICE:-cuda}"
export BLTEDGE_PYTHON="$PY"
SUMMARY="$RES/summary.txt"
: > "$SUMMARY"
T0=$(date +%s)

step() {   # step NAME SECONDS COMMAND...: runs it with a limit, output to $RES/NAME.log, a line in summary.txt
  local name=$1 limit=$2; shift 2
  local t=$(date +%s)
  timeout "$limit" "$@" > "$RES/$name.log" 2>&1
  local rc=$?
  local verdict=ok; [ $rc -ne 0 ] && verdict="FAILED (exit $rc$([ $rc -eq 124 ] && echo ", over ${limit}s"))"
  echo "$name: $verdict in $(( $(date +%s) - t ))s" | tee -a "$SUMMARY"
}

{
  echo "date: $(date -u +%FT%TZ)"; echo "commit: $(git rev-parse HEAD 2>/dev/null)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), 'bf16', torch.cuda.is_available() and torch.cuda.is_bf16_supported(), 'compile', hasattr(torch, 'compile'))" 2>&1
  echo "node: $(node --version 2>&1)"
} > "$RES/env.txt"
cat "$RES/env.txt"
if [ "$DEV" = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "no CUDA device visible to $PY: nothing to check" | tee -a "$SUMMARY"; exit 1
fi

# 1. the worker's tests on CUDA in f32: protocol, stops, disconnects, and greedy parity with the TS engine
POOL_TEST_DEVICE=$DEV POOL_TEST_DTYPE=f32 step parity 120 "$PY" -m pytest test/python/test_pool_worker.py -q -p no:cacheprovider
# 2. agreement with the TS engine byte by byte, f32 and bf16
step agree-f32 45 sh -c "\"$PY\" -m scripts.pool.agree --device $DEV --dtype f32 > '$RES/agree-f32.jsonl'"
step agree-bf16 45 sh -c "\"$PY\" -m scripts.pool.agree --device $DEV --dtype bf16 > '$RES/agree-bf16.jsonl'"
# 3. throughput: every mode at 1, 8 and 32 streams (bf16), and AR in f32 for comparison
step bench 150 sh -c "npx tsx scripts/bench/pool.ts --json --device $DEV --dtype auto --concurrency 1,8,32 --rounds 2 > '$RES/bench.jsonl'"
step bench-f32 45 sh -c "npx tsx scripts/bench/pool.ts --json --device $DEV --dtype f32 --modes ar --concurrency 1,8,32 --rounds 2 > '$RES/bench-f32.jsonl'"
# 4. torch.compile, where there is one (optional: a failure here is recorded, nothing depends on it)
step compile 45 sh -c "npx tsx scripts/bench/pool.ts --json --device $DEV --compile --modes ar --concurrency 1,8 --rounds 1"

{
  echo
  echo "agreement with the TS engine (cases identical / mean bytes agreeing):"
  for f in agree-f32 agree-bf16; do echo "  $f: $(tail -1 "$RES/$f.jsonl" 2>/dev/null)"; done
  echo
  echo "| dtype | mode | concurrency | aggregate bytes/s | one stream's bytes/s (p50) | first byte ms p50 |"
  echo "|---|---|---|---|---|---|"
  cat "$RES/bench.jsonl" "$RES/bench-f32.jsonl" 2>/dev/null | grep '^{' | "$PY" -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(f\"| {r.get('dtype', '?')} | {r['mode']} | {r['concurrency']} | {r['bytesPerSec']:.0f} | {r['streamBytesPerSecP50']:.0f} | {r['firstByteMsP50']:.0f} |\")"
  echo
  echo "total: $(( $(date +%s) - T0 ))s"
} >> "$SUMMARY"
sed -n '/^$/,$p' "$SUMMARY"                  # the step lines went out as they finished
# the exit status: the parity tests and the bench must pass; the rest is measurement
! grep -q "^parity: FAILED\|^bench: FAILED" "$SUMMARY"

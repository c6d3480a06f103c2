#!/usr/bin/env bash
# The one run a machine with an NVIDIA GPU owes this project; needs python3 with torch and numpy, nothing else (no
# Node, no node_modules, no network). Under 9 minutes of wall time; every step has its own time limit, and a failing
# step is recorded and the next one runs.
#   bash scripts/device/run.sh [--dry-run] OUTDIR          (OUTDIR default: $OUT)
# Run it in a folder made by scripts/device/stage.sh (it reads the corpus there), or in a checkout whose data/v2 is
# built. --dry-run: the same steps on the CPU with tiny sizes (CI, test/device/test_dry_run.py).
# Steps: data (unpack the corpus), env, parity (scripts/device/parity.py: the pool worker's greedy bytes on CUDA, f32,
# against the TS engine's committed outputs in every mode and block variant; bf16 agreement), bench
# (scripts/device/bench.py: every mode, T = 0 and 0.8, 1/8/32/128 streams, on blt-v2), train (a 8.7 M-parameter BLT-D,
# scripts/train/configs/gpu-9m.json, for a fixed time with bf16 autocast), export (held-out bpb and the latent
# ablation), pack (the model on the pool worker's model in every mode, then in parts), check (scripts/device/check.py).
# Writes at most 8 files into OUTDIR: summary.txt, logs.txt, parity.json, bench.jsonl, train.jsonl and
# blt-d-9m.tar.part0.. (the exported model folder; `cat blt-d-9m.tar.part* | tar -x -C models/` here).
# Python: $BLTEDGE_PYTHON, else python3 when it has torch, else /usr/bin/python3.
set -u
cd "$(dirname "$0")/../.."
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
RES="${1:-${OUT:-}}"
if [ -z "$RES" ]; then echo "usage: bash scripts/device/run.sh [--dry-run] OUTDIR" >&2; exit 2; fi
mkdir -p "$RES"
RES="$(cd "$RES" && pwd)"
if [ -n "${BLTEDGE_PYTHON:-}" ]; then PY="$BLTEDGE_PYTHON"
elif python3 -c "import torch, numpy" 2>/dev/null; then PY=python3
else PY=/usr/bin/python3; fi
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bltedge-device.XXXXXX")"
SUMMARY="$RES/summary.txt" LOGS="$RES/logs.txt"
: > "$SUMMARY"; : > "$LOGS"
T0=$(date +%s)
MODEL=blt-d-9m

if [ $DRY = 1 ]; then
  DEV=cpu CONC=1,2
  L_DATA=60 L_ENV=30 L_PARITY=150 L_BENCH=120 L_TRAIN=120 L_EXPORT=90 L_PACK=60 L_CHECK=60
  PARITY_ARGS=(--bf16-cases 2)
  BENCH_ARGS=(--rounds 1 --bytes 8 --prompts 2 --budget-seconds 90)
  TRAIN_SECONDS=4 TRAIN_ARGS=(--config gpu-dry --threads 1)
  EXPORT_ARGS=(--test-bytes 32768 --threads 1)
else
  DEV=cuda CONC=1,8,32,128
  L_DATA=15 L_ENV=20 L_PARITY=60 L_BENCH=135 L_TRAIN=210 L_EXPORT=50 L_PACK=30 L_CHECK=15   # 535 s at most
  PARITY_ARGS=()
  BENCH_ARGS=(--rounds 2 --bytes 128 --prompts 8 --budget-seconds 105)
  TRAIN_SECONDS=140 TRAIN_ARGS=(--config gpu-9m --threads 4)
  EXPORT_ARGS=(--test-bytes 262144 --threads 4)       # the windows blt-v2's manifest was scored on
fi

step() {   # step NAME SECONDS COMMAND...: runs it with a limit (output to the console and logs.txt), a line in summary.txt
  local name=$1 limit=$2; shift 2
  local t; t=$(date +%s)
  echo "=== $name (limit ${limit}s)"
  timeout -k 5 "$limit" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$WORK/$name.log"
  { echo "=== $name: exit $rc"; tail -n 300 "$WORK/$name.log"; } >> "$LOGS"
  local verdict=ok
  [ $rc -ne 0 ] && verdict="FAILED (exit $rc$( [ $rc -eq 124 ] && echo ", over ${limit}s"))"
  echo "$name: $verdict in $(( $(date +%s) - t ))s" | tee -a "$SUMMARY"
  return $rc
}

echo "device run$( [ $DRY = 1 ] && echo " (dry run, CPU)"): $(date -u +%FT%TZ), python $PY, results in $RES" | tee -a "$SUMMARY"
step data $L_DATA "$PY" -m scripts.device.corpus unpack --set v2
step env $L_ENV "$PY" -m scripts.device.env && sed -n '$p' "$WORK/env.log" >> "$SUMMARY"
if [ $DEV = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "no CUDA device is visible to $PY: the GPU steps cannot run" | tee -a "$SUMMARY"
fi
step parity $L_PARITY "$PY" -m scripts.device.parity --device $DEV --out "$RES/parity.json" ${PARITY_ARGS[@]+"${PARITY_ARGS[@]}"}
step bench $L_BENCH "$PY" -m scripts.device.bench --model models/blt-v2 --device $DEV --concurrency $CONC \
  --temperature 0,0.8 --out "$RES/bench.jsonl" "${BENCH_ARGS[@]}"
: > "$RES/train.jsonl"
RUN="$WORK/run" TRAIN_T0=$(date +%s)
if ! step train $L_TRAIN "$PY" -m scripts.train.train --run "$RUN" --time-schedule --bf16 \
    --max-seconds $TRAIN_SECONDS "${TRAIN_ARGS[@]}"; then
  # bf16 autocast failed (or the run did): what is left of the step's time goes to the same run in f32, afresh
  LEFT=$(( L_TRAIN - ($(date +%s) - TRAIN_T0) ))
  if [ $LEFT -gt 90 ]; then
    RUN="$WORK/run-f32"
    step train-f32 $LEFT "$PY" -m scripts.train.train --run "$RUN" --time-schedule \
      --max-seconds $(( LEFT - 70 < TRAIN_SECONDS ? LEFT - 70 : TRAIN_SECONDS )) "${TRAIN_ARGS[@]}"
  fi
fi
[ -f "$RUN/log.jsonl" ] && cat "$RUN/log.jsonl" >> "$RES/train.jsonl"
step export $L_EXPORT "$PY" -m scripts.train.export --run "$RUN" --out "$WORK/$MODEL" "${EXPORT_ARGS[@]}" && \
  "$PY" -c "import json, sys; print(json.dumps({'kind': 'export', 'manifest': json.load(open(sys.argv[1]))}))" \
    "$WORK/$MODEL/manifest.json" >> "$RES/train.jsonl"
step pack $L_PACK "$PY" -m scripts.device.pack --model "$WORK/$MODEL" --out "$RES" --device $DEV
step check $L_CHECK "$PY" -m scripts.device.check "$RES" --concurrency $CONC
sed -n '/^ok\|^FAILED\|^note\|^every\|failed$\|^|/p' "$WORK/check.log" >> "$SUMMARY"
echo "total: $(( $(date +%s) - T0 ))s" | tee -a "$SUMMARY"
rm -rf "$WORK"
! grep -q "^[a-z0-9-]*: FAILED" "$SUMMARY"

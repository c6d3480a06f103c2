"""The device run: one Python-only run on a machine with an NVIDIA GPU (parity, pool bench, a training run);
scripts/device/run.sh drives it, scripts/device/stage.sh assembles what travels."""

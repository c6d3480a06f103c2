#!/bin/sh
# Installs what the PyTorch training/export scripts and their tests need (Debian packages;
# run as root). Afterwards: /usr/bin/python3 -m pytest test/python -q
set -e
apt-get update
apt-get install -y --no-install-recommends python3-torch libopenblas0-pthread python3-pytest python3-numpy libjemalloc2

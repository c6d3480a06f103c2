"""The reference GPU-pool worker: serves models/<name>/ checkpoints over the decoding wire protocol (v1).
Run: /usr/bin/python3 -m scripts.pool.worker --models models/blt-d-tiny --port 8790"""

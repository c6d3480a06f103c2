"""Offline PyTorch training and export of BLT-D models (see docs/training.md)."""

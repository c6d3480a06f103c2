"""CPU settings that matter on a small shared machine; import before torch.
Measured on the 2-core box while other jobs ran: OpenMP's default spin-waiting made 2 threads
5x slower than 1; passive waiting fixes that. Large tensors allocated by mmap page-fault on every
step; raising glibc's mmap/trim thresholds lets the allocator reuse them."""
import ctypes
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def tune_malloc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)        # M_MMAP_THRESHOLD: serve big tensors from the heap
        libc.mallopt(-1, 1 << 34)        # M_TRIM_THRESHOLD: keep freed memory for reuse
    except (OSError, AttributeError):
        pass


tune_malloc()

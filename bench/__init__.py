"""Benchmarks (`make bench`): conv and pooling ops, training, grading.

Importing this package first sets up the process so that two libraries timed side by side do
not disturb each other (both effects measured on the 2-core course machine):

* ``GOMP_SPINCOUNT=10000``: after each call PyTorch's idle OpenMP threads otherwise keep
  spinning on both CPUs for a long time, and the next calls of whatever ran after PyTorch took
  up to 1.5x longer. A short spin leaves PyTorch's own times unchanged (W2 1.25 ms, W3 0.38 ms
  best, with and without it), while ``OMP_WAIT_POLICY=PASSIVE`` slowed PyTorch's W3 by half,
  so it is not used.
* glibc keeps freed memory (``mallopt``: mmap threshold 32 MB, trim threshold 1 GB): otherwise
  each fresh output array of either library is mapped anew and page-faulted in on every call,
  which on this VM made PyTorch's W2 forward vary between 1.4 ms and 4 ms from run to run.
"""
import ctypes
import ctypes.util
import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def _keep_freed_memory():
    """Ask glibc to keep freed memory for reuse; return whether it agreed (False elsewhere)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20) and libc.mallopt(M_TRIM_THRESHOLD, 2**30))
    except (OSError, AttributeError):
        return False


KEEPS_FREED_MEMORY = _keep_freed_memory()

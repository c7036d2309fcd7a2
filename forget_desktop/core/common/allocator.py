"""The C heap of a process that runs torch on the CPU: memory a batch frees is kept for the next one.

glibc's malloc hands freed memory at the top of its heap back to the system once more than its trim
threshold is free, and serves large blocks with fresh mappings. Both thresholds start small and grow only as
the process frees large blocks, so in a new process a batch of a forward pass faults its pages in again
where a process that has run a while reuses them: the forget job's first evaluation of the fine-tuned LFW-62
model took 9.2–11.4 s in new processes and 7.4–7.8 s with the thresholds below (0.66–0.81 of the time, four
rounds of tests/bench/allocator_bench.py, allocator-cpu.md), and in eta_bench's forget job, which trains the
model first in the same process, 7.4 s. The cost is memory kept after a job instead of returned: 170–355 MB
more at the end of those runs, and 0–16 % more at the peak. Set once, at launch; elsewhere (macOS, Windows,
another C library) nothing changes, nor where the user set glibc's own variables for it.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 20  # blocks below this come from the heap, whose freed memory is reused
TRIM_THRESHOLD = 1 << 30  # free memory at the heap's top kept up to this
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Raise glibc's thresholds for this process (True); False where there is no glibc to ask or the user
    chose its settings."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the running process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1

"""At launch the app keeps the memory a batch frees for the next one (glibc's malloc; allocator.py), so a new
process does not fault every batch's pages in again. Checked in new processes against the real C library."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc (Linux)")

BLOCK = 64 << 20  # about what a forward pass over a batch of faces holds at once

ONE_BLOCK = f"""
import ctypes, json, sys
from forget_desktop.core.common.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype = MallInfo2, ctypes.c_void_p
kept = keep_freed_memory() if sys.argv[1] == "launch" else None
block = libc.malloc({BLOCK})
mapped = libc.mallinfo2().hblkhd  # bytes served by mappings of their own (handed back once freed)
libc.free(ctypes.c_void_p(block))
print(json.dumps({{"kept": kept, "mapped": mapped, "free_in_heap": libc.mallinfo2().fordblks}}))
"""


def one_block(mode: str, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", ONE_BLOCK, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-500:]
    return json.loads(done.stdout)


def test_after_launch_a_large_block_comes_from_the_heap_and_stays_there_once_freed():
    plain = one_block("plain")
    assert plain["mapped"] >= BLOCK  # a new process maps it afresh, and unmaps it when freed
    launched = one_block("launch")
    assert launched["kept"] is True
    assert launched["mapped"] < BLOCK  # from the heap
    assert launched["free_in_heap"] >= BLOCK  # freed, and kept for the next batch


def test_the_users_own_malloc_settings_are_left_alone():
    chosen = one_block("launch", GLIBC_TUNABLES="glibc.malloc.trim_threshold=1048576")
    assert chosen["kept"] is False
    assert chosen["mapped"] >= BLOCK

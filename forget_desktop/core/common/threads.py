"""How many threads torch and OpenCV use for one piece of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import torch


@contextmanager
def single_threaded() -> Iterator[None]:
    """torch and OpenCV each run on one thread inside, and as before after.

    For a live stream: its frames are decoded on one thread and drawn on another while the ML thread names
    them, so on a machine with few cores a two-thread team of torch or OpenCV waits at every step for a
    core another stage holds. One thread per stage showed more frames (gui_bench.py)."""
    torch_threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv_threads)

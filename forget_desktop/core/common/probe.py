"""How fast this machine is now, before it has measured any stage: a fraction of a second of fixed work.

A machine's first job has no rates of its own (``rates.Rates``); its stages are predicted from defaults
measured elsewhere, and on a machine 30–50 % faster or slower than that the time left was that far off
from the start (tests/bench/results/eta-cpu.md). The probe times a small, fixed piece of the CPU stages'
work — a convolutional network's forward pass over eight faces (torch, as embedding and scoring do) and
filtering frames (OpenCV, as finding faces does) — and keeps it as the rate of a stage of its own, whose
default was measured in the same tuning run as the others, so ``Rates.speed`` scales every default by it
until the machine has measured its own.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch

from .rates import Rates, Stage

PROBE = Stage("probe", 1, "cpu")
REPEATS = 16  # about 0.07 s a try on a 2-core CPU


def probe_seconds(tries: int = 9) -> float:
    """Seconds for the fixed work, the fastest of ``tries`` (the first pays for warming up). Three were too few:
    in six processes on a quiet 2-core CPU the fastest of three took 0.040–0.057 s and the fastest of nine
    0.040–0.044 s, and one eta_bench process's 0.060 made its first forget's time left +31 % to +54 % at 8–11 %."""
    generator = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, 2, 1),
        torch.nn.PReLU(32),
        torch.nn.Conv2d(32, 64, 3, 2, 1),
        torch.nn.PReLU(64),
        torch.nn.Conv2d(64, 128, 3, 2, 1),
    ).eval()
    faces = torch.rand(8, 3, 112, 112, generator=generator)
    frame = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        with torch.no_grad():
            for _ in range(REPEATS):
                net(faces)
        for _ in range(REPEATS):
            cv2.GaussianBlur(cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA), (5, 5), 0)
        best = min(best, time.perf_counter() - started)
    return best


def probe_if_new(rates: Rates | None = None) -> float | None:
    """On a machine that has measured no stage on its CPU: run the probe and keep it (its seconds); else
    nothing (None)."""
    rates = rates if rates is not None else Rates()
    if not rates.unmeasured("cpu"):
        return None
    seconds = probe_seconds()
    rates.record(PROBE, seconds)
    return seconds

"""Headless commands on the same core as the window: ``predict`` (and ``unlearn``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .core.devices import DEVICE_CHOICES, pick_device
from .console import run_main
from .core.images import is_image_file


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given; folders replaced by the images inside them (recursively, sorted)."""
    paths = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
        else:
            paths.append(path)
    return paths


def predict_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m forget_desktop predict",
                                     description="Name the faces in images; one JSON object per line.")
    parser.add_argument("--model", required=True, help="checkpoint from train_face.py or unlearn")
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument("--threshold", type=float, help="confidence below which a face is Unknown")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    args = parser.parse_args(argv)
    from .core.checkpoint import load_checkpoint
    from .core.recognise import Recogniser, predict_files

    recogniser = Recogniser(load_checkpoint(args.model), pick_device(args.device), threshold=args.threshold)
    paths = expand_inputs(args.images)
    failures = 0
    for record in predict_files(paths, recogniser):
        failures += record["error"] is not None
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 1 if paths and failures == len(paths) else 0


COMMANDS = {"predict": predict_command}


def run_command(name: str, argv: list[str]) -> int:
    """Run one headless command; any failure becomes one sentence on stderr."""
    return run_main(lambda: COMMANDS[name](argv))

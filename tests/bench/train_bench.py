"""Training figures the README quotes, measured in one run: LFW-62 with the default embedding model (from an
empty crop cache, then again from the cache), the fine-tuned kind, and the MNIST CNN.

    python tests/bench/train_bench.py [--skip-finetuned] [--skip-mnist] [--out PATH]

Writes ``tests/bench/results/train-<device>.md`` and ``.json``: held-out accuracy, seconds of wall time and
of CPU time (the machine may be shared), and the photos with a face found.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, WEIGHTS, results_stem  # noqa: E402
from forget_desktop.core.app.train_job import TrainRequest, train_model  # noqa: E402
from forget_desktop.core.common.devices import describe_device, pick_device  # noqa: E402
from forget_desktop.core.faces.crops import CropCache  # noqa: E402

LFW, MNIST, MOBILEFACENET = DATA["lfw"], DATA["mnist"], WEIGHTS


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def lfw_row(label: str, kind: str, cache: CropCache, device) -> dict:
    request = TrainRequest(LFW, "mobilefacenet", None, str(MOBILEFACENET), kind=kind)
    result, wall, cpu = timed(lambda: train_model(request, device, cache=cache))
    photos = len(result.gallery.split.train) + len(result.gallery.split.heldout)
    return {
        "run": label,
        "kind": kind,
        "heldout_acc": result.heldout_acc,
        "heldout_correct": round(result.heldout_acc * len(result.gallery.heldout)),
        "heldout": len(result.gallery.heldout),
        "faces_found": photos - len(result.problems),
        "photos": photos,
        "train_seconds": round(result.seconds, 2),
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "detector": getattr(request, "detector", "mtcnn"),
    }


def mnist_row(device) -> dict:
    from forget_desktop.core.data.mnist import load_mnist
    from forget_desktop.core.model.backbones import get_backbone
    from forget_desktop.core.model.models import build_classifier
    from forget_desktop.core.model.training import accuracy, fit

    train, test = load_mnist(MNIST, "train"), load_mnist(MNIST, "test")
    model, _ = build_classifier("mnist-cnn", 10, None, 0, "finetuned")
    recipe = get_backbone("mnist-cnn").recipe
    _, wall, cpu = timed(lambda: fit(model, train, recipe, device))
    return {
        "run": "MNIST CNN",
        "kind": "finetuned",
        "heldout_acc": accuracy(model, test, device),
        "heldout": len(test),
        "epochs": recipe.epochs,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-finetuned", action="store_true")
    parser.add_argument("--skip-mnist", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out")
    args = parser.parse_args()
    device = pick_device(args.device)
    stem = results_stem(args.out, f"train-{device.type}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cache = CropCache(Path(folder) / "crops")
        rows.append(lfw_row("LFW-62, empty cache", "embedding", cache, device))
        rows.append(lfw_row("LFW-62, faces cached", "embedding", cache, device))
        if not args.skip_finetuned:
            rows.append(lfw_row("LFW-62, faces cached", "finetuned", cache, device))
        shutil.rmtree(cache.root, ignore_errors=True)
    if not args.skip_mnist:
        rows.append(mnist_row(device))
    data = {"device": describe_device(device), "torch": torch.__version__, "rows": rows}
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        f"# Training — {data['device']}, torch {data['torch']}",
        "",
        "`python tests/bench/train_bench.py`. Wall seconds include finding faces and embedding them; CPU seconds "
        "are this process's (all threads), so a shared machine shows in wall time only.",
        "",
        "| run | kind | held-out accuracy | faces found | train s | wall s | CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        found = f"{row['faces_found']} of {row['photos']}" if "photos" in row else "—"
        lines.append(
            f"| {row['run']} | {row['kind']} | {row['heldout_acc']:.2%} | {found} | {row.get('train_seconds', '—')} "
            f"| {row['wall_seconds']} | {row['cpu_seconds']} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

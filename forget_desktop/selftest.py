"""``--selftest``: check, offscreen, that the pieces a user needs work here (source tree or bundle).

Prints one PASS/FAIL line per step and exits 0 only if every step passed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path


def _qt() -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph  # noqa: F401 - the charts must import in the bundle too
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication([])
    label = QLabel("Forget self-test")
    label.resize(200, 40)
    image = label.grab().toImage()
    if image.isNull() or image.width() != 200:
        raise RuntimeError("offscreen rendering gave no image")
    return f"Qt {app.platformName()} rendering"


def _mtcnn_and_face(state: dict) -> str:
    from .core.common.images import load_rgb
    from .core.faces.detector import FaceDetector
    from .resources import resource

    photo = resource("astronaut.png")
    detector = FaceDetector()
    faces = detector.detect(load_rgb(photo))
    if len(faces) != 1:
        raise RuntimeError(f"expected 1 face in {photo.name}, found {len(faces)}")
    state["rgb"], state["face"] = load_rgb(photo), faces[0]
    return f"1 face in {photo.name} (p={faces[0].prob:.3f})"


def _model(state: dict) -> str:
    import torch

    from .core.faces.crops import ARCFACE_112, make_crop, to_input
    from .core.model.models import FaceClassifier

    model = FaceClassifier("mobilefacenet", 3).eval()
    crop = make_crop(state["rgb"], state["face"], ARCFACE_112)
    with torch.no_grad():
        logits = model(to_input(torch.from_numpy(crop).permute(2, 0, 1)[None].contiguous(), ARCFACE_112))
    if logits.shape != (1, 3) or not torch.isfinite(logits).all():
        raise RuntimeError("the model gave no finite output")
    return "mobilefacenet classifier runs on the aligned crop"


def _unlearn(state: dict) -> str:
    import torch

    from .core.common.jobs import Progress
    from .core.faces.crops import MNIST_28, CropSet
    from .core.model.backbones import get_backbone
    from .core.model.checkpoint import load_checkpoint, make_meta, save_checkpoint
    from .core.model.models import build_classifier
    from .core.model.training import accuracy, fit
    from .core.unlearning.evaluation import ForgetSplits
    from .core.unlearning.job import config_for, run_method

    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(40)
    images = torch.rand(len(labels), 1, 28, 28, generator=generator) * 60 + labels.view(-1, 1, 1, 1) * 80
    data = CropSet(images.to(torch.uint8), labels, MNIST_28, [f"synthetic:{i}" for i in range(len(labels))])
    model, start = build_classifier("mnist-cnn", 3)
    recipe = get_backbone("mnist-cnn").recipe.with_epochs(3)
    fit(model, data, recipe, torch.device("cpu"))
    meta = make_meta(model, ["a", "b", "c"], split={}, start=start, recipe=recipe.to_dict(), metrics={})
    with tempfile.TemporaryDirectory() as folder:
        path = save_checkpoint(model, meta, Path(folder) / "selftest.ckpt")
        original = load_checkpoint(path)
    splits = ForgetSplits.from_sets(data, data, ["a", "b", "c"], [2])
    config = config_for(meta, torch.device("cpu"), 0)
    unlearned, seconds = run_method("salun", original.model, splits, config, Progress(), {"epochs": 3.0})
    forget_acc = accuracy(unlearned, splits.forget_train, torch.device("cpu"))
    if forget_acc > 0.5:
        raise RuntimeError(f"forget accuracy stayed at {forget_acc:.0%}")
    return f"salun on synthetic tensors: forget accuracy {forget_acc:.0%} in {seconds:.1f} s"


def run_selftest() -> int:
    state: dict = {}
    steps: list[tuple[str, Callable[[], str]]] = [
        ("Qt offscreen", _qt),
        ("MTCNN finds the face in the sample photo", lambda: _mtcnn_and_face(state)),
        ("model builds and runs", lambda: _model(state)),
        ("short unlearning job", lambda: _unlearn(state)),
    ]
    failures = 0
    for name, step in steps:
        started = time.perf_counter()
        try:
            detail = step()
            print(f"PASS {name}: {detail} ({time.perf_counter() - started:.1f} s)", flush=True)
        except Exception as error:  # noqa: BLE001 - report every failure and go on
            failures += 1
            where = traceback.extract_tb(error.__traceback__)[-1]
            print(
                f"FAIL {name}: {type(error).__name__}: {error} ({Path(where.filename).name}:{where.lineno})", flush=True
            )
    print("SELFTEST PASSED" if failures == 0 else f"SELFTEST FAILED ({failures} of {len(steps)} steps)", flush=True)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(run_selftest())

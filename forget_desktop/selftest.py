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


def _detects_face(name: str, state: dict) -> str:
    from .core.common.images import load_rgb
    from .core.faces.detector import make_detector
    from .resources import resource

    photo = resource("astronaut.png")
    rgb = load_rgb(photo)
    faces = make_detector(name).detect(rgb)
    if len(faces) != 1:
        raise RuntimeError(f"expected 1 face in {photo.name}, found {len(faces)}")
    state["rgb"] = rgb
    return f"1 face in {photo.name} (score {faces[0].prob:.2f})"


def _people(rgb, folder: Path) -> Path:
    """A folder of three made-up people, eight photos each, all cut from one photo: the same face in
    different colours (original, red and blue swapped, grey), shifted and scaled a little per photo."""
    import cv2
    import numpy as np

    looks = {"Person_A": rgb, "Person_B": rgb[:, :, ::-1], "Person_C": np.repeat(rgb.mean(2, keepdims=True), 3, 2)}
    height, width = rgb.shape[:2]
    for name, look in looks.items():
        (folder / name).mkdir(parents=True)
        for index in range(8):
            zoom, dx, dy = 1.0 + 0.04 * (index % 4), 6 * (index % 3) - 6, 5 * (index % 2)
            matrix = np.array([[zoom, 0, dx - (zoom - 1) * width / 2], [0, zoom, dy - (zoom - 1) * height / 2]])
            photo = cv2.warpAffine(np.ascontiguousarray(look, dtype=np.uint8), matrix, (width, height))
            cv2.imwrite(str(folder / name / f"{name}_{index + 1:04d}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    return folder


def _train(state: dict, scratch: Path) -> str:
    """The default path: YuNet finds the faces, an embedding model (mobilefacenet; seeded random
    weights, as the real ones may not be downloaded yet) learns the people's centres."""
    import torch

    from .core.app.train_job import TrainRequest, train_model
    from .core.faces.crops import CropCache
    from .core.model.models import FaceClassifier

    torch.manual_seed(0)
    weights = scratch / "mobilefacenet-random.pt"
    torch.save(FaceClassifier("mobilefacenet", 1, "embedding").backbone.state_dict(), weights)
    people = _people(state["rgb"], scratch / "people")
    request = TrainRequest(people, "mobilefacenet", scratch / "model.ckpt", str(weights), kind="embedding")
    result = train_model(request, torch.device("cpu"), cache=CropCache(scratch / "cache"))
    found = len(result.gallery.train) + len(result.gallery.heldout)
    if result.problems or found != 24:
        raise RuntimeError(f"faces found in {found} of 24 photos")
    detector = result.checkpoint.crop.detector
    if detector != "yunet":
        raise RuntimeError(f"the model says its faces came from {detector!r}, not yunet")
    state.update(people=people, model=result.checkpoint.path)
    return f"3 people, a face in 24 of 24 photos, trained in {result.seconds:.2f} s"


def _exact_forget(state: dict, scratch: Path) -> str:
    import torch

    from .core.faces.crops import CropCache
    from .core.unlearning.job import UnlearnRequest, unlearn_job

    request = UnlearnRequest(
        state["model"], state["people"], ["Person_C"], "exact", {}, scratch / "forgot.ckpt", scratch / "forgot.json"
    )
    report = unlearn_job(request, torch.device("cpu"), cache=CropCache(scratch / "cache")).report
    if report.identical_to_reference is not True:
        raise RuntimeError("the unlearned model differs from the one retrained without the person")
    if report.unlearned.forget_train_acc != 0.0:
        raise RuntimeError(f"the person is still recognised ({report.unlearned.forget_train_acc:.0%})")
    return f"identical to the retrained reference ({report.reference_comparison['tensors']} tensors compared)"


def _video(state: dict, scratch: Path) -> str:
    """A short video is written (mp4v), decoded, and its face found and tracked in every frame."""
    import cv2
    import numpy as np

    from .core.faces.frames import VideoFrames
    from .core.model.checkpoint import load_checkpoint
    from .core.recognition.recognise import Recogniser
    from .core.recognition.stream import VideoRecogniser

    rgb, path = state["rgb"], scratch / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (rgb.shape[1], rgb.shape[0]))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write an mp4 video here")
    for index in range(10):
        shifted = cv2.warpAffine(rgb, np.float32([[1, 0, 3 * index], [0, 1, 0]]), (rgb.shape[1], rgb.shape[0]))
        writer.write(cv2.cvtColor(shifted, cv2.COLOR_RGB2BGR))
    writer.release()
    stream = VideoRecogniser(Recogniser(load_checkpoint(state["model"])))
    tracks = [[face.track for face in stream.recognise(frame.rgb)] for frame in VideoFrames(path)]
    if len(tracks) != 10 or any(found != [1] for found in tracks):
        raise RuntimeError(f"expected one face on one track in each of 10 frames, got {tracks}")
    return "10 frames decoded, the face found and tracked in each"


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
    with tempfile.TemporaryDirectory(prefix="forget-selftest-") as folder:
        return run_steps(Path(folder))


def run_steps(scratch: Path) -> int:
    state: dict = {}
    steps: list[tuple[str, Callable[[], str]]] = [
        ("Qt offscreen", _qt),
        ("YuNet (bundled) finds the face in the sample photo", lambda: _detects_face("yunet", state)),
        ("MTCNN finds it too", lambda: _detects_face("mtcnn", state)),
        ("an embedding model trains on YuNet's faces", lambda: _train(state, scratch)),
        ("exact forget", lambda: _exact_forget(state, scratch)),
        ("a video is decoded and its face tracked", lambda: _video(state, scratch)),
        ("short SalUn job (fine-tuned models)", lambda: _unlearn(state)),
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

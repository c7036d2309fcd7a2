"""Shared fixtures: real data from ../shared, a private cache and settings for every test run."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORGET_SHARED_DIR") or ROOT.parent / "shared")
LFW = SHARED / "data" / "lfw" / "lfw-deepfunneled"
PHOTOS = SHARED / "data" / "photos"
MNIST = SHARED / "data" / "mnist"
VIDEO = SHARED / "data" / "video" / "video.mp4"
MOBILEFACENET = SHARED / "models" / "mobilefacenet" / "mobilefacenet.pt"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_configure(config):
    if not LFW.is_dir():
        raise pytest.UsageError(f"The shared test data was not found at {SHARED}; set FORGET_SHARED_DIR.")


@pytest.fixture(scope="session", autouse=True)
def private_dirs(tmp_path_factory):
    """Keep every cache, download and data file of the test run out of the user's folders."""
    base = tmp_path_factory.mktemp("app")
    os.environ["FORGET_CACHE_DIR"] = str(base / "cache")
    os.environ["FORGET_DATA_DIR"] = str(base / "data")
    os.environ["TORCH_HOME"] = str(base / "torch")
    os.environ["FORGET_MOBILEFACENET_WEIGHTS"] = str(MOBILEFACENET)
    yield base


def mnist_model_forgetting(forgotten: list[int], seed: int, epochs: int):
    """(model, recipe, splits): the MNIST CNN trained for ``epochs`` on 4,000 real digits drawn with ``seed``, 1,000
    more held out, and the splits for forgetting the digits ``forgotten``."""
    import torch

    from forget_desktop.core.data.mnist import load_mnist
    from forget_desktop.core.model.backbones import get_backbone
    from forget_desktop.core.model.models import build_classifier
    from forget_desktop.core.model.training import fit
    from forget_desktop.core.unlearning.evaluation import ForgetSplits

    digits = load_mnist(MNIST, "train")
    order = torch.randperm(len(digits), generator=torch.Generator().manual_seed(seed))
    train = digits.where(torch.isin(torch.arange(len(digits)), order[:4000]))
    heldout = digits.where(torch.isin(torch.arange(len(digits)), order[4000:5000]))
    recipe = get_backbone("mnist-cnn").recipe.with_epochs(epochs)
    model, _ = build_classifier("mnist-cnn", 10, seed=seed)
    fit(model, train, recipe, torch.device("cpu"), seed=seed)
    return model, recipe, ForgetSplits.from_sets(train, heldout, [str(d) for d in range(10)], forgotten)


def copy_people(dest: Path, people: dict[str, int]) -> Path:
    """Copy ``count`` photos of each named LFW person into ``dest`` (an identity-folder gallery)."""
    for name, count in people.items():
        (dest / name).mkdir(parents=True, exist_ok=True)
        for photo in sorted((LFW / name).iterdir())[:count]:
            shutil.copy(photo, dest / name / photo.name)
    return dest


SMALL_PEOPLE = {"Ariel_Sharon": 12, "Colin_Powell": 12, "Hugo_Chavez": 12, "Tony_Blair": 12}


@pytest.fixture(scope="session")
def small_gallery(tmp_path_factory) -> Path:
    """Four LFW people, twelve photos each (a fast real gallery)."""
    return copy_people(tmp_path_factory.mktemp("gallery"), SMALL_PEOPLE)


def train_small(gallery: Path, out: Path, **options) -> Path:
    """Train a mobilefacenet model on ``gallery`` into ``out`` (on the CPU)."""
    import torch

    from forget_desktop.core.app.train_job import TrainRequest, train_model

    train_model(TrainRequest(gallery, "mobilefacenet", out, str(MOBILEFACENET), **options), torch.device("cpu"))
    return out


@pytest.fixture(scope="session")
def small_checkpoint(small_gallery, tmp_path_factory) -> Path:
    """The default model on the small gallery: an embedding model (frozen MobileFaceNet + centres)."""
    return train_small(small_gallery, tmp_path_factory.mktemp("models") / "small.ckpt")


@pytest.fixture(scope="session")
def small_finetuned(small_gallery, tmp_path_factory) -> Path:
    """A fine-tuned mobilefacenet classifier on the small gallery (two epochs' worth of steps)."""
    return train_small(
        small_gallery, tmp_path_factory.mktemp("models") / "small-finetuned.ckpt", kind="finetuned", epochs=2
    )


def run_python(*args: str, timeout: float = 600, env: dict | None = None):
    """Run ``python args...`` from the project root; returns the CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def workspace(tmp_path, small_checkpoint, small_gallery):
    """The small (embedding) model, a private copy of its gallery, a private crop cache and app folder."""
    import torch

    from forget_desktop.core.app.workspace import Workspace
    from forget_desktop.core.faces.crops import CropCache

    gallery = shutil.copytree(small_gallery, tmp_path / "people")
    model = shutil.copy(small_checkpoint, tmp_path / "model.ckpt")
    space = Workspace(torch.device("cpu"), CropCache(tmp_path / "cache"), tmp_path / "app" / "models")
    space.open_model(model)
    space.open_gallery(gallery)
    return space


# --- the window (pytest-qt, offscreen, a fresh QSettings file per test) -------------------------------


@pytest.fixture
def settings(tmp_path):
    from forget_desktop.ui.settings import AppSettings

    return AppSettings(tmp_path / "settings.ini")


@pytest.fixture
def make_window(qtbot, settings, tmp_path):
    """Build main windows on the CPU with a private models folder; their ML threads stop afterwards."""
    import torch

    from forget_desktop.core.app.workspace import Workspace
    from forget_desktop.ui.main_window import MainWindow

    windows = []

    def make(launch=None, settings=settings):
        device = torch.device("cpu")
        window = MainWindow(settings, device, launch, Workspace(device, models_dir=tmp_path / "models"))
        qtbot.addWidget(window, before_close_func=lambda w: w.worker.stop())  # never asks at teardown
        window.resize(1300, 850)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.worker.stop()


def on_gui_thread(signal):
    """``signal`` (emitted on the ML thread) re-emitted on the GUI thread as ``fired(args)``: what a test waits
    on. pytest-qt's blockers are plain Python objects; connected straight to a signal of another thread, a
    queued call could still reach one after it was freed, and CI crashed that way (a segfault in
    ``_quit_loop_by_signal``). Here the queued call targets this QObject, and Qt drops it once it is gone."""
    from PySide6.QtCore import QObject, Signal

    class Relay(QObject):
        fired = Signal(tuple)

        def forward(self, *args) -> None:
            self.fired.emit(args)

    relay = Relay()
    signal.connect(relay.forward)
    return relay


def wait_idle(qtbot, window, timeout=300_000) -> None:
    """Wait until the ML thread has nothing left and its last signals reached the window: its ``idle``
    signal, unless it came since the last job or frame was handed over."""
    while not (window.worker.settled and window.worker.is_idle()):  # a handler may hand over another job
        with qtbot.waitSignal(window.worker.idle, timeout=timeout):
            pass

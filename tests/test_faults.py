"""Faults while the window runs: a camera that stops, a data folder that disappears, a full disk."""

import errno
import shutil

from PySide6.QtCore import QTimer

from conftest import PHOTOS, wait_idle
from forget_desktop.core import atomic
from forget_desktop.core.frames import ImageFrames
from forget_desktop.ui.sources import FrameSource


class DyingCamera(FrameSource):
    """A real frame source (photos) that fails after a few frames, as an unplugged camera does."""

    title = "test camera"

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames = ImageFrames([PHOTOS / "multiface.jpg"])
        self.left = frames

    def start(self) -> None:
        QTimer.singleShot(10, self._tick)

    def _tick(self) -> None:
        if self.left == 0:
            self.failed.emit("The camera 'test camera' stopped sending frames; open a video or image files instead.")
            return
        self.left -= 1
        self.frame.emit(self.frames.read(0))
        QTimer.singleShot(30, self._tick)


def test_camera_that_stops_mid_stream(qtbot, make_window, small_checkpoint):
    window = make_window()
    window.open_model(small_checkpoint)
    wait_idle(qtbot, window)
    window.set_source(DyingCamera(3))
    qtbot.waitUntil(window.banner.isVisible, timeout=60_000)
    assert window.banner.text().startswith("The camera 'test camera' stopped sending frames")
    wait_idle(qtbot, window)
    assert len(window.recognise.frame_view.faces) == 6  # what was recognised stays on screen
    window.open_files([str(PHOTOS / "skimage" / "astronaut.png")])  # and the window carries on
    qtbot.waitUntil(lambda: window.recognise.status.text().startswith("astronaut.png"), timeout=60_000)


def test_data_folder_that_disappears(qtbot, make_window, small_checkpoint, small_gallery, tmp_path):
    gallery = shutil.copytree(small_gallery, tmp_path / "people")
    window = make_window()
    window.open_model(small_checkpoint)
    window.open_data(gallery)
    wait_idle(qtbot, window)
    shutil.rmtree(gallery)
    window.open_data(gallery)
    wait_idle(qtbot, window)
    assert window.banner.text() == f"The data folder '{gallery}' does not exist or is not a folder."
    window.run_forget("salun", {}, False, names=["Tony_Blair"])  # the photos already read are still usable
    wait_idle(qtbot, window)
    assert window.results.report is not None and window.results.report["forget"] == ["Tony_Blair"]


def test_full_disk_while_saving_a_forget_result(qtbot, make_window, small_checkpoint, small_gallery, monkeypatch):
    window = make_window()
    window.open_model(small_checkpoint)
    window.open_data(small_gallery)
    wait_idle(qtbot, window)
    before = small_checkpoint.read_bytes()

    def no_space(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    window.run_forget("salun", {}, False, names=["Tony_Blair"])
    wait_idle(qtbot, window)
    assert window.banner.text().startswith("The disk is full:") and window.banner.text().endswith(
        "was not saved and nothing was changed.")
    assert window.workspace.checkpoint.path == small_checkpoint and small_checkpoint.read_bytes() == before
    assert not list(window.workspace.models_dir.rglob("*.ckpt"))

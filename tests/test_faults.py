"""Faults while the window runs: no camera, a video cut mid-stream, a data folder that disappears, a full disk."""

import errno
import shutil

import pytest

from conftest import PHOTOS, VIDEO, wait_idle
from forget_desktop.core.common import atomic
from forget_desktop.core.common.errors import ForgetError
from forget_desktop.ui.sources import CameraSource


def mjpeg_copy(folder, cut: bool = False):
    """The demo video re-encoded as Motion-JPEG AVI (readable up to any point), optionally cut in half."""
    import cv2

    capture, path = cv2.VideoCapture(str(VIDEO)), folder / ("cut.avi" if cut else "whole.avi")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), capture.get(cv2.CAP_PROP_FPS), (640, 360))
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (640, 360)))
    writer.release()
    if cut:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


def test_a_camera_that_is_not_there_is_one_sentence(make_window):
    window = make_window()
    with pytest.raises(ForgetError) as caught:
        CameraSource(b"no-such-camera")  # the real class: this machine has no camera at all
    assert str(caught.value) == "No camera was found; open a video or image files instead."
    window.sources.start_camera(3)
    assert window.banner.text() == "No camera was found; open a video or image files instead."


def test_a_video_cut_mid_stream_says_so_and_keeps_the_last_frame(qtbot, make_window, small_checkpoint, tmp_path):
    window = make_window()
    window.models.open_model(small_checkpoint)
    wait_idle(qtbot, window)
    window.sources.open_files([str(mjpeg_copy(tmp_path, cut=True))])
    qtbot.waitUntil(window.banner.isVisible, timeout=60_000)
    assert window.banner.text() == "'cut.avi' stopped at frame 53 of 105: the file is damaged or cut short."
    wait_idle(qtbot, window)
    assert window.recognise.frame_view.image is not None  # what was recognised stays on screen
    window.sources.open_files([str(PHOTOS / "skimage" / "astronaut.png")])  # and the window carries on
    qtbot.waitUntil(lambda: window.recognise.status.text().startswith("astronaut.png"), timeout=60_000)


def test_a_video_that_ends_offers_replay(qtbot, make_window, small_checkpoint, tmp_path):
    window = make_window()
    window.models.open_model(small_checkpoint)
    wait_idle(qtbot, window)
    window.sources.open_files([str(mjpeg_copy(tmp_path))])
    qtbot.waitUntil(lambda: "end of video" in window.recognise.status.text(), timeout=60_000)
    assert not window.recognise.pause_button.isEnabled() and window.recognise.replay_button.isVisible()
    window.recognise.replay_button.click()
    qtbot.waitUntil(lambda: window.recognise.status.text().startswith("frame "), timeout=30_000)
    assert window.recognise.pause_button.isEnabled()


def test_data_folder_that_disappears(qtbot, make_window, small_checkpoint, small_gallery, tmp_path):
    gallery = shutil.copytree(small_gallery, tmp_path / "people")
    window = make_window()
    window.models.open_model(small_checkpoint)
    window.models.open_data(gallery)
    wait_idle(qtbot, window)
    shutil.rmtree(gallery)
    window.models.open_data(gallery)
    wait_idle(qtbot, window)
    assert window.banner.text() == f"The data folder '{gallery}' does not exist or is not a folder."
    window.forgetting.run_forget("salun", {}, False, names=["Tony_Blair"])  # the photos already read are still usable
    wait_idle(qtbot, window)
    assert window.results.report is not None and window.results.report.forget == ("Tony_Blair",)


def test_full_disk_while_saving_a_forget_result(qtbot, make_window, small_checkpoint, small_gallery, monkeypatch):
    window = make_window()
    window.models.open_model(small_checkpoint)
    window.models.open_data(small_gallery)
    wait_idle(qtbot, window)
    before = small_checkpoint.read_bytes()
    records = window.workspace.records
    audit_before, in_use_before = records.audit.lines(), records.in_use()

    def no_space(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    window.forgetting.run_forget("salun", {}, False, names=["Tony_Blair"])
    wait_idle(qtbot, window)
    assert window.banner.text().startswith("The disk is full:") and window.banner.text().endswith(
        "was not saved and nothing was changed."
    )
    assert window.workspace.checkpoint.path == small_checkpoint and small_checkpoint.read_bytes() == before
    assert not list(window.workspace.models_dir.rglob("*.ckpt"))
    # the records too: no request, no version, no audit line, the same model in use
    assert records.requests.all() == [] and not records.requests.exclusion()
    assert records.audit.lines() == audit_before and records.in_use() == in_use_before
    assert records.db.query("SELECT COUNT(*) FROM versions")[0][0] == 0


def test_a_slow_frame_delays_the_stream_instead_of_dropping_it(qtbot):
    """One frame that takes long (a face named for the first time) holds up the next video frames: they
    wait, up to STREAM_BUFFER of them, and are all named in order; only beyond that does the oldest go.
    Still images do not queue: the newest replaces the one waiting."""
    import threading
    from dataclasses import replace

    from forget_desktop.core.faces.frames import VideoFrames
    from forget_desktop.ui.worker import STREAM_BUFFER, MLWorker

    frames = [f for f, _ in zip(VideoFrames(VIDEO, size=(640, 480)), range(STREAM_BUFFER + 3))]
    assert all(f.stream for f in frames)
    busy, release = threading.Event(), threading.Event()

    def slow_first(frame):
        if not busy.is_set():
            busy.set()
            release.wait(30)
        return []

    worker = MLWorker(slow_first)
    worker.start()
    named: list[str] = []
    worker.recognised.connect(lambda frame, _faces: named.append(frame.label))

    def offer_while_busy(first, rest) -> None:
        busy.clear(), release.clear(), named.clear()
        worker.offer_frame(first)
        assert busy.wait(30)
        for frame in rest:
            worker.offer_frame(frame)
        with qtbot.waitSignal(worker.idle, timeout=30_000):
            release.set()

    try:
        offer_while_busy(frames[0], frames[1 : STREAM_BUFFER + 1])  # they fit: none is dropped
        assert named == [f.label for f in frames[: STREAM_BUFFER + 1]]
        assert worker.dropped_frames == 0

        offer_while_busy(frames[0], frames[1:])  # two more than fit: the two oldest waiting go
        assert named == [frames[0].label] + [f.label for f in frames[3:]]
        assert worker.dropped_frames == 2

        stills = [replace(f, stream=False, label=f"photo {i}") for i, f in enumerate(frames[:3])]
        offer_while_busy(stills[0], stills[1:])
        assert named == ["photo 0", "photo 2"]
    finally:
        release.set()
        worker.stop()

"""Frame sources behind one interface: camera (QtMultimedia), video file, image files or folder.

Each source emits ``frame(Frame)`` and, on trouble, ``failed(str)`` with one sentence. File reading
and video decoding run on a small reader thread, never on the GUI thread.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal

from ..core.common.errors import ForgetError, describe
from ..core.faces.frames import Frame, ImageFrames, VideoFrames, paced


class FrameSource(QObject):
    """Base class: ``start()``, ``stop()``, and the ``frame`` / ``failed`` / ``finished`` signals."""

    frame = Signal(object)
    failed = Signal(str)
    finished = Signal()
    title = "source"

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:
        pass


class VideoSource(FrameSource):
    """A video file played in real time (frames the model cannot keep up with are dropped later)."""

    def __init__(
        self,
        path: str | Path,
        max_side: int = 960,
        loop: bool = False,
        size: tuple[int, int] | None = None,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.path, self.loop = Path(path), loop
        self.video = VideoFrames(path, max_side=max_side, size=size)  # raises ForgetError for a bad file
        self.title = self.path.name
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Play from the start (also: replay)."""
        self.stop()
        self._stop, self._paused = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._play, args=(self._stop, self._paused), daemon=True, name="video")
        self._thread.start()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def _play(self, stop: threading.Event, paused: threading.Event) -> None:
        try:
            while not stop.is_set():
                for frame in paced(iter(self.video), self.video.fps, paused, stop):
                    if stop.is_set():
                        return
                    self.frame.emit(frame)
                if not self.loop:
                    break
        except ForgetError as error:
            self.failed.emit(str(error))
        except Exception as error:  # noqa: BLE001 - a stream that dies mid-way: one sentence
            self.failed.emit(f"The video stopped: {describe(error)}")
        if not stop.is_set():
            self.finished.emit()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        self._thread = None


class ImageSource(FrameSource):
    """Image files (or a folder): shows one at a time; ``show(i)`` loads it off the GUI thread."""

    def __init__(self, paths: list[str | Path], parent=None) -> None:
        super().__init__(parent)
        self.images = ImageFrames(paths)  # raises ForgetError when nothing is there
        self.index = 0
        self.title = Path(paths[0]).name if len(paths) == 1 else f"{len(self.images)} images"

    def __len__(self) -> int:
        return len(self.images)

    def start(self) -> None:
        self.show(0)

    def show(self, index: int) -> None:
        self.index = index % len(self.images)
        threading.Thread(target=self._load, args=(self.index,), daemon=True, name="image").start()

    def _load(self, index: int) -> None:
        try:
            self.frame.emit(self.images.read(index))
        except ForgetError as error:
            self.failed.emit(str(error))

    def step(self, delta: int) -> None:
        self.show(self.index + delta)


def list_cameras() -> list[tuple[str, bytes]]:
    """(name, id) of each camera the system offers; empty where there is none."""
    from PySide6.QtMultimedia import QMediaDevices

    return [(device.description(), bytes(device.id())) for device in QMediaDevices.videoInputs()]


class CameraSource(FrameSource):
    """A webcam through QtMultimedia (asks for permission where the system requires it)."""

    def __init__(self, camera_id: bytes | None = None, parent=None) -> None:
        super().__init__(parent)
        from PySide6.QtMultimedia import QMediaDevices

        devices = QMediaDevices.videoInputs()
        if not devices:
            raise ForgetError("No camera was found; open a video or image files instead.")
        chosen = next((d for d in devices if camera_id is None or bytes(d.id()) == camera_id), None)
        if chosen is None:
            raise ForgetError("That camera is no longer connected; choose another one, or open a video or images.")
        self.device, self.title, self._index = chosen, chosen.description(), 0
        self._camera = self._session = self._sink = None

    def start(self) -> None:
        from PySide6.QtCore import QCoreApplication

        try:
            from PySide6.QtCore import QCameraPermission

            app = QCoreApplication.instance()
            status = app.checkPermission(QCameraPermission())
            if status == Qt.PermissionStatus.Undetermined:
                app.requestPermission(QCameraPermission(), self, lambda _p: self.start())
                return
            if status == Qt.PermissionStatus.Denied:
                self.failed.emit(
                    "Camera access was denied; allow it in the system settings, or open a video or image files instead."
                )
                return
        except ImportError:
            pass
        from PySide6.QtMultimedia import QCamera, QMediaCaptureSession, QVideoSink

        self._camera = QCamera(self.device, self)
        self._session = QMediaCaptureSession(self)
        self._sink = QVideoSink(self)
        self._session.setCamera(self._camera)
        self._session.setVideoSink(self._sink)
        self._camera.errorOccurred.connect(self._on_error)
        self._sink.videoFrameChanged.connect(self._on_frame)
        self._camera.start()

    def _on_error(self, _error, text: str) -> None:
        self.failed.emit(
            f"The camera '{self.title}' failed: {text.rstrip('.') or 'it may be busy'}; "
            "open a video or image files instead."
        )

    def _on_frame(self, video_frame) -> None:
        image = video_frame.toImage()
        if image.isNull():
            return
        rgb = qimage_to_rgb(image)
        self.frame.emit(Frame(rgb, self._index, f"{self.title} frame {self._index + 1}", stream=True))
        self._index += 1

    def stop(self) -> None:
        if self._camera is not None:
            self._camera.stop()


def qimage_to_rgb(image) -> np.ndarray:
    """A QImage as an H×W×3 uint8 RGB array (a copy)."""
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), np.uint8, count=stride * height).reshape(height, stride)
    return buffer[:, : width * 3].reshape(height, width, 3).copy()


def rgb_to_qimage(rgb: np.ndarray):
    """An H×W×3 uint8 RGB array as a QImage that owns its pixels."""
    from PySide6.QtGui import QImage

    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()

"""The frame source in use — a camera, a video or image files — and what happens to its frames.

It starts, steps, pauses and stops the source, hands each frame to the ML thread (which names the faces)
and shows what comes back in the Recognise view. The window only asks it to open something.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..core.common.errors import ForgetError
from ..core.faces.frames import VIDEO_SUFFIXES, Frame
from .recognise_view import RecogniseView
from .settings import AppSettings
from .sources import CameraSource, FrameSource, ImageSource, VideoSource, list_cameras
from .worker import MLWorker

RECENT_CAMERA_FRAMES = 100  # kept for enrolling someone from the camera


class SourceController(QObject):
    """See the module docstring. ``failed`` carries one sentence; ``changed`` the new source."""

    failed = Signal(str)
    changed = Signal(object)  # FrameSource

    def __init__(self, worker: MLWorker, view: RecogniseView, settings: AppSettings, parent=None) -> None:
        super().__init__(parent)
        self.worker, self.view, self.settings = worker, view, settings
        self.source: FrameSource | None = None
        self.cameras: list[tuple[str, bytes]] = []
        self._last_frame: Frame | None = None
        self._recent: deque[Frame] = deque(maxlen=RECENT_CAMERA_FRAMES)
        worker.recognised.connect(self._recognised)
        view.camera_requested.connect(self.start_camera)
        view.step_requested.connect(self.step)
        view.play_requested.connect(self.play)
        view.files_dropped.connect(self.open_files)

    def refresh_cameras(self) -> None:
        try:
            self.cameras = list_cameras()
        except Exception:  # noqa: BLE001 - QtMultimedia missing or broken: no cameras, not a crash
            self.cameras = []
        self.view.set_cameras([name for name, _ in self.cameras], self.settings.camera)

    def set_source(self, source: FrameSource) -> None:
        """Stop the source in use and start ``source``."""
        if self.source is not None:
            self.source.stop()
            self.source.deleteLater()
        self.source = source
        self._recent.clear()
        source.frame.connect(self._frame_arrived)
        source.failed.connect(self.failed)
        source.finished.connect(self.view.stream_ended)
        self.view.set_source_kind(source)
        self.changed.emit(source)
        source.start()

    def open_files(self, paths: list[str]) -> None:
        """Images, a folder of images or a video, from a dialog, a drop or the command line."""
        try:
            if len(paths) == 1 and Path(paths[0]).suffix.lower() in VIDEO_SUFFIXES:
                self.set_source(VideoSource(paths[0]))
            else:
                self.set_source(ImageSource(paths))
            self.settings.last_folder = str(Path(paths[0]).parent)
        except ForgetError as error:
            self.failed.emit(str(error))

    def start_camera(self, index: int) -> None:
        if not self.cameras:
            self.failed.emit("No camera was found; open a video or image files instead.")
            return
        name, camera_id = self.cameras[max(0, min(index, len(self.cameras) - 1))]
        try:
            self.set_source(CameraSource(camera_id))
            self.settings.camera = name
        except ForgetError as error:
            self.failed.emit(str(error))

    def open_argument(self, text: str) -> None:
        """``--source camera|camera:N|VIDEO|IMAGE_DIR|IMAGE``."""
        if text == "camera" or text.startswith("camera:"):
            index = int(text.split(":", 1)[1]) if ":" in text and text.split(":", 1)[1].isdigit() else 0
            self.start_camera(index)
        else:
            self.open_files([text])

    def step(self, delta: int) -> None:
        if isinstance(self.source, ImageSource):
            self.source.step(delta)

    def play(self, action: str) -> None:
        if isinstance(self.source, VideoSource):
            {"pause": self.source.pause, "play": self.source.resume, "replay": self.source.start}[action]()

    @property
    def is_camera(self) -> bool:
        return isinstance(self.source, CameraSource)

    def captured_frames(self, count: int) -> list:
        """The last ``count`` camera frames seen (taken while the camera runs)."""
        return [frame.rgb for frame in list(self._recent)[-count:]]

    def reshow(self) -> None:
        """Name the faces of the still image on screen again (another model was opened)."""
        if self._last_frame is not None and not isinstance(self.source, (VideoSource, CameraSource)):
            self.worker.offer_frame(self._last_frame)

    def stop(self) -> None:
        if self.source is not None:
            self.source.stop()

    def _frame_arrived(self, frame: Frame) -> None:
        self._last_frame = frame
        if self.is_camera:
            self._recent.append(frame)
        self.worker.offer_frame(frame)

    def _recognised(self, frame: Frame, faces) -> None:
        self.view.show_result(frame, faces or [])
        if faces is None:
            self.view.show_message(f"{frame.label}: open or train a model to name faces.")

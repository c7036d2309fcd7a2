"""Frame sources without Qt: a video file or a set of image files, read lazily as RGB frames.

The window wraps these (and its Qt camera) behind one interface; tests use them directly.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..common.errors import ForgetError
from ..common.images import IMAGE_SUFFIXES, is_image_file, load_rgb

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".wmv", ".mpg", ".mpeg"})


@dataclass
class Frame:
    """One RGB frame and where it came from."""

    rgb: np.ndarray
    index: int
    label: str  # file name, or "frame 12" for video
    time: float = 0.0  # seconds into the video (0 for photos)
    stream: bool = False  # part of a video or camera stream (faces may be tracked between frames)


class VideoFrames:
    """Frames of a video file, optionally resized so the longer side is ``max_side``."""

    def __init__(
        self, path: str | os.PathLike, max_side: int | None = None, size: tuple[int, int] | None = None
    ) -> None:
        self.path = Path(path)
        self.max_side, self.size = max_side, size
        capture = self._open()
        self.fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        self.count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        capture.release()

    def _open(self) -> cv2.VideoCapture:
        if not self.path.is_file():
            raise ForgetError(f"The video '{self.path.name}' does not exist.")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise ForgetError(f"'{self.path.name}' cannot be played: not a video format this app can read.")
        return capture

    def __iter__(self) -> Iterator[Frame]:
        capture = self._open()
        try:
            index = 0
            while True:
                ok, bgr = capture.read()
                if not ok:
                    if index == 0:
                        raise ForgetError(f"'{self.path.name}' holds no readable video frames.")
                    if self.count and index < self.count * 0.98 - 2:  # the header promised more
                        raise ForgetError(
                            f"'{self.path.name}' stopped at frame {index} of {self.count}: the file "
                            "is damaged or cut short."
                        )
                    return
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield Frame(self._resize(rgb), index, f"frame {index + 1}", index / self.fps, stream=True)
                index += 1
        finally:
            capture.release()

    def _resize(self, rgb: np.ndarray) -> np.ndarray:
        if self.size:
            return cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        if self.max_side and max(rgb.shape[:2]) > self.max_side:
            scale = self.max_side / max(rgb.shape[:2])
            return cv2.resize(
                rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA
            )
        return rgb


class ImageFrames:
    """Image files (a list, or every image in a folder) as frames; unreadable files raise per frame."""

    def __init__(self, paths: list[str | os.PathLike]) -> None:
        files: list[Path] = []
        for item in map(Path, paths):
            if item.is_dir():
                files += sorted(p for p in item.rglob("*") if _safe_is_image(p))
            else:
                files.append(item)
        if not files:
            raise ForgetError(
                "No image files were found there (looked for "
                + ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
                + ")."
            )
        self.paths = files

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, index: int) -> Frame:
        """Frame ``index``; raises ForgetError with one sentence if that file is unreadable."""
        path = self.paths[index]
        return Frame(load_rgb(path), index, path.name)

    def __iter__(self) -> Iterator[Frame]:
        for index in range(len(self.paths)):
            yield self.read(index)


def _safe_is_image(path: Path) -> bool:
    try:
        return path.is_file() and is_image_file(path)
    except OSError:
        return False


def paced(
    frames: Iterator[Frame], fps: float, paused: threading.Event | None = None, stop: threading.Event | None = None
) -> Iterator[Frame]:
    """Yield frames no faster than real time (a stand-in for a camera); while ``paused`` is set, wait
    (the clock stops too), and give up waiting once ``stop`` is set."""
    start = time.monotonic()
    for frame in frames:
        if paused is not None and paused.is_set():
            since = time.monotonic()
            while paused.is_set() and not (stop is not None and stop.is_set()):
                time.sleep(0.05)
            start += time.monotonic() - since
        delay = start + frame.index / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield frame

"""Face detection: the ``Face`` a detector returns, the detectors the app knows, and which face of a
photo is its subject.

YuNet (OpenCV's ``FaceDetectorYN``, its 232 KB model shipped in the package) is the default: about ten
times faster than MTCNN on the CPU, with fewer false boxes. MTCNN (facenet-pytorch) stays selectable,
and is what models made before the choice existed used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..common.errors import ForgetError

DETECTORS = ("yunet", "mtcnn")
DEFAULT_DETECTOR = "yunet"
# Kinds whose detectors make twins (``twin()``) so that photos are searched on several threads at once.
TWINNED_DETECTORS = ("yunet",)
LEGACY_DETECTOR = "mtcnn"  # what made the crops of a model whose metadata names no detector
DETECTOR_TEXT = {
    "yunet": "YuNet — fast, few false boxes (default)",
    "mtcnn": "MTCNN — facenet-pytorch's detector, about ten times slower on a CPU",
}


@dataclass
class Face:
    """One detected face in image pixel coordinates."""

    box: np.ndarray  # x1, y1, x2, y2
    prob: float
    landmarks: np.ndarray  # 5×2: left eye, right eye, nose, left mouth, right mouth

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


class FaceDetector(Protocol):
    """What every detector offers: its ``name`` (one of ``DETECTORS``), whether it is fast enough to
    search ``every_frame`` of a stream, and ``detect``."""

    name: str
    every_frame: bool

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an H×W×3 uint8 RGB image, most confident first (an empty list when there is none)."""
        ...


def check_detector(name: str) -> str:
    """``name`` if the app knows that detector; otherwise one sentence saying which it knows."""
    if name not in DETECTORS:
        raise ForgetError(f"There is no face detector called '{name}'; choose {' or '.join(DETECTORS)}.")
    return name


def make_detector(name: str = DEFAULT_DETECTOR, video: bool = False) -> FaceDetector:
    """A new detector of kind ``name``. ``video``: tuned for a stream (one search scale for YuNet; MTCNN's
    coarser, stricter preset), so that every frame can be searched."""
    if check_detector(name) == "yunet":
        from .yunet import YuNetDetector

        return YuNetDetector(fine_side=None) if video else YuNetDetector()
    from .mtcnn import MtcnnDetector

    return MtcnnDetector(fast=video)


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """``box`` (x1, y1, x2, y2) kept inside a width×height image."""
    return np.array([max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height)], dtype=np.float32)


def main_face(faces: list[Face], width: int, height: int) -> Face | None:
    """The largest face near the image centre: the subject of a training photo."""
    if not faces:
        return None
    centre = np.array([width / 2, height / 2])

    def score(face: Face) -> float:
        middle = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
        return face.area - 2.0 * float(np.sum((middle - centre) ** 2))

    return max(faces, key=score)

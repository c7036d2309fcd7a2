"""YuNet (Wu, Peng and Yu, 2023) through OpenCV's ``FaceDetectorYN``: the default face detector.

Its 232 KB ONNX model ships inside the package (``forget_desktop/resources``, with its licence), so
finding faces never needs a download; its sha256 is checked each time a detector is made. YuNet finds
faces of about 10 to 300 pixels, so a photo is searched with its longest side at most ``SEARCH_SIDE``
and, when it is larger than that, once more at up to ``fine_side`` for the faces too small to be
found the first time.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import cv2
import numpy as np

from ..common.errors import ForgetError
from .detector import Face, clip_box

MODEL = Path(__file__).resolve().parents[2] / "resources" / "face_detection_yunet_2023mar.onnx"
MODEL_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
SEARCH_SIDE = 640  # the size YuNet was trained at: faces of about 10–300 px are found
FINE_SIDE = 1280  # a larger photo is searched again at up to this size, for its small faces
SMALL_FACE = 32  # px at the first scale: only faces narrower than this are taken from the second search
MIN_SCORE = 0.8  # below this, boxes on the street video were crests, hair and shop signs (detect_bench.py)
NMS_IOU = 0.3


def load_model(path: Path = MODEL) -> np.ndarray:
    """The model's bytes, after checking that they are the ones this app ships."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ForgetError(
            f"The face detector model '{path.name}' cannot be read ({error.strerror or error}); reinstall the app."
        ) from None
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise ForgetError(
            f"The face detector model '{path.name}' is damaged: its sha256 does not match the one this app "
            "ships; reinstall the app."
        )
    return np.frombuffer(data, dtype=np.uint8)


class YuNetDetector:
    """YuNet returning plain ``Face`` objects, most confident first. One search at a time (a lock)."""

    name = "yunet"
    every_frame = True  # about 90 frames/s at 640×360 on two cores

    def __init__(self, min_score: float = MIN_SCORE, fine_side: int | None = FINE_SIDE, model: Path = MODEL) -> None:
        """``fine_side`` None: one search scale only (video, where every frame must be searched)."""
        self.min_score, self.fine_side, self._model = min_score, fine_side, model
        self._net = cv2.FaceDetectorYN.create("onnx", load_model(model), np.zeros(0, np.uint8), (320, 320))
        self._net.setScoreThreshold(min_score)
        self._net.setNMSThreshold(NMS_IOU)
        self._net.setTopK(5000)
        self._size = (320, 320)
        self._lock = threading.Lock()

    def twin(self) -> YuNetDetector:
        """A detector with the same settings, for another thread (each searches one image at a time)."""
        return YuNetDetector(self.min_score, self.fine_side, self._model)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an H×W×3 uint8 RGB image, most confident first."""
        height, width = rgb.shape[:2]
        if min(height, width) < 8:
            return []
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        first = min(1.0, SEARCH_SIDE / max(height, width))
        faces = self._search(bgr, first)
        if self.fine_side and first < 1.0:
            fine = min(1.0, self.fine_side / max(height, width))
            small = [f for f in self._search(bgr, fine) if (f.box[2] - f.box[0]) * first < SMALL_FACE]
            faces += [f for f in small if all(_overlap(f.box, g.box) < NMS_IOU for g in faces)]
        return [Face(clip_box(f.box, width, height), f.prob, f.landmarks) for f in sorted(faces, key=lambda f: -f.prob)]

    def _search(self, bgr: np.ndarray, scale: float) -> list[Face]:
        """One YuNet pass over ``bgr`` resized by ``scale``; boxes in ``bgr``'s pixels."""
        height, width = bgr.shape[:2]
        size = (max(round(width * scale), 1), max(round(height * scale), 1))
        image = bgr if scale == 1.0 else cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        with self._lock:
            if size != self._size:
                self._net.setInputSize(size)
                self._size = size
            _, rows = self._net.detect(image)
        if rows is None:
            return []
        faces = []
        for row in rows:
            x, y, w, h = (float(v) / scale for v in row[:4])
            points = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
            faces.append(Face(np.array([x, y, x + w, y + h], np.float32), float(row[14]), points))
        return faces


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two boxes over the smaller one's area (1.0: one lies inside the other)."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(inter / smaller) if smaller > 0 else 0.0

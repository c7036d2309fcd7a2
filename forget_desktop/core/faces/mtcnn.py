"""MTCNN (facenet-pytorch), always on the CPU: its pooling fails on MPS."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .detector import Face, clip_box

DETECT_SIDE = 1280  # photos are searched at most this large; boxes map back to full size


class MtcnnDetector:
    """MTCNN on the CPU returning plain ``Face`` objects (an empty list when there is no face)."""

    name = "mtcnn"
    every_frame = False  # about 10 frames/s at 640×360 on two cores: searched now and then, followed between

    def __init__(
        self, min_prob: float = 0.9, min_face_size: int = 20, detect_side: int = DETECT_SIDE, fast: bool = False
    ) -> None:
        """``fast`` (for video): a coarser image pyramid and stricter first stages, several times
        quicker on busy scenes at the cost of some small or blurred faces."""
        from facenet_pytorch import MTCNN  # heavy import, deferred until a detector is needed

        self.min_prob = min_prob
        self.detect_side = detect_side
        extra = {"factor": 0.6, "thresholds": [0.8, 0.8, 0.8]} if fast else {}
        self._mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, device="cpu", **extra)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an H×W×3 uint8 RGB image, most confident first."""
        height, width = rgb.shape[:2]
        scale = min(1.0, self.detect_side / max(height, width))
        small = (
            rgb
            if scale == 1.0
            else cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        )
        if min(small.shape[:2]) < 12:
            return []
        with torch.inference_mode():
            boxes, probs, points = self._mtcnn.detect(np.ascontiguousarray(small), landmarks=True)
        if boxes is None:
            return []
        boxes = np.asarray(boxes, dtype=np.float32) / scale
        probs = np.asarray(probs, dtype=np.float32)
        points = np.asarray(points, dtype=np.float32) / scale
        faces = [
            Face(clip_box(b, width, height), float(p), lm)
            for b, p, lm in zip(boxes, probs, points)
            if p >= self.min_prob
        ]
        return sorted(faces, key=lambda f: -f.prob)

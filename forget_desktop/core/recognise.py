"""Name the faces in a photo or frame with a trained checkpoint.

A face is named only when it is close enough to someone in the gallery: its cosine similarity to the
centre of the person the classifier picks must reach the model's calibrated threshold (models without
one fall back to the softmax confidence). Otherwise it is Unknown — a stranger, or a forgotten person.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from .checkpoint import Checkpoint
from .crops import make_crop
from .errors import ForgetError
from .faces import Face, FaceDetector
from .heads import similarity_to_choice
from .images import load_rgb_scaled
from .training import features_and_logits

UNKNOWN = "Unknown"


@dataclass
class FaceResult:
    """One recognised face: where it is, who it is, how sure, and the crop the model saw."""

    box: list[float]
    identity: str
    confidence: float
    top: list[tuple[str, float]]
    crop: np.ndarray = field(repr=False)
    detection_prob: float = 1.0
    similarity: float | None = None  # to the chosen person's centre; None for an uncalibrated model

    @property
    def score(self) -> float:
        """What the threshold is compared with: the similarity, or (uncalibrated) the confidence."""
        return self.confidence if self.similarity is None else self.similarity

    def named_at(self, threshold: float) -> str:
        """The name shown at ``threshold``: the chosen person, or Unknown."""
        return self.top[0][0] if self.score >= threshold else UNKNOWN

    def to_json(self) -> dict:
        return {
            "box": [round(v, 1) for v in self.box],
            "identity": self.identity,
            "confidence": round(self.confidence, 4),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "top": [[name, round(p, 4)] for name, p in self.top],
        }


class Recogniser:
    """Detector + classifier. Call ``recognise(rgb)``; owned by one thread at a time."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        device: torch.device | str = "cpu",
        detector: FaceDetector | None = None,
        threshold: float | None = None,
        top_k: int = 5,
    ) -> None:
        self.checkpoint = checkpoint
        self.device = torch.device(device)
        self.spec = checkpoint.crop
        self.detector = detector if detector is not None or self.spec.align == "none" else FaceDetector()
        self.threshold = checkpoint.threshold if threshold is None else threshold
        self.top_k = top_k
        checkpoint.model.to(self.device).eval()

    def recognise(self, rgb: np.ndarray) -> list[FaceResult]:
        """Faces in an H×W×3 uint8 RGB image, left to right."""
        if self.spec.align == "none":
            return self._name(*self._crops(rgb))  # the whole image: one input
        return self.classify(rgb, self.detector.detect(rgb))

    def classify(self, rgb: np.ndarray, faces: list[Face]) -> list[FaceResult]:
        """Name already-located faces (from the detector or a tracker), left to right."""
        return left_to_right(self.name_faces(rgb, faces))

    def name_faces(self, rgb: np.ndarray, faces: list[Face]) -> list[FaceResult]:
        """One result per face, in the order given."""
        return self._name(faces, [make_crop(rgb, face, self.spec) for face in faces])

    def _name(self, faces: list[Face], crops: list[np.ndarray]) -> list[FaceResult]:
        if not crops:
            return []
        batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
        model = self.checkpoint.model
        features, logits = features_and_logits(model, batch, self.spec, self.device)
        probs = torch.softmax(logits, 1)
        similarity = (
            similarity_to_choice(model.head, features, logits).tolist()
            if self.checkpoint.calibrated
            else [None] * len(crops)
        )
        classes = self.checkpoint.classes
        results = []
        for face, crop, row, close in zip(faces, crops, probs, similarity):
            values, index = row.topk(min(self.top_k, len(classes)))
            top = [(classes[i], float(v)) for v, i in zip(values.tolist(), index.tolist())]
            result = FaceResult([float(v) for v in face.box], UNKNOWN, top[0][1], top, crop, face.prob, close)
            result.identity = result.named_at(self.threshold)
            results.append(result)
        return results

    def _crops(self, rgb: np.ndarray) -> tuple[list[Face], list[np.ndarray]]:
        """Digits: the whole image is the one input."""
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        small = cv2.resize(grey, (self.spec.size, self.spec.size), interpolation=cv2.INTER_AREA)
        height, width = rgb.shape[:2]
        whole = Face(np.array([0, 0, width, height], np.float32), 1.0, np.zeros((5, 2), np.float32))
        return [whole], [small[:, :, None]]


def left_to_right(results: list[FaceResult]) -> list[FaceResult]:
    """Results in reading order, as the window numbers faces and the CLI lists them."""
    return sorted(results, key=lambda r: r.box[0])


def predict_files(paths: Iterable[str | os.PathLike], recogniser: Recogniser) -> Iterator[dict]:
    """One JSON-ready record per file: its faces, or an ``error`` sentence (the run goes on)."""
    for path in paths:
        record = {"file": str(path), "faces": [], "error": None}
        try:
            rgb, scale = load_rgb_scaled(Path(path))
            for face in recogniser.recognise(rgb):
                face.box = [v / scale for v in face.box]  # back to the file's own pixels
                record["faces"].append(face.to_json())
        except ForgetError as error:
            record["error"] = str(error)
        yield record


class VideoRecogniser:
    """Recognition for a stream: MTCNN every ``detect_every`` frames, and in between the faces'
    landmarks and boxes are followed with pyramidal Lucas–Kanade optical flow. Names come from the
    classifier at each detection and travel with the tracked boxes (``name_every_frame`` re-runs the
    classifier on every frame instead, at about twice the cost). A face whose points are lost is
    dropped until the next detection."""

    def __init__(
        self, recogniser: Recogniser, detect_every: int = 3, fast: bool = True, name_every_frame: bool = False
    ) -> None:
        self.recogniser = recogniser
        self.detect_every = max(1, detect_every)
        self.name_every_frame = name_every_frame
        needs_detector = recogniser.spec.align != "none"
        self.detector = FaceDetector(fast=True) if fast and needs_detector else recogniser.detector
        self.reset()

    def reset(self) -> None:
        self._grey: np.ndarray | None = None
        self._faces: list[Face] = []
        self._named: list[FaceResult] = []
        self._count = 0

    def recognise(self, rgb: np.ndarray) -> list[FaceResult]:
        if self.recogniser.spec.align == "none":
            return self.recogniser.recognise(rgb)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        shape_changed = self._grey is not None and self._grey.shape != grey.shape
        if self._count % self.detect_every == 0 or self._grey is None or shape_changed or not self._faces:
            self._faces = self.detector.detect(rgb) if self.detector else []
            self._named = self.recogniser.name_faces(rgb, self._faces)
        else:
            kept = self._track(self._grey, grey)
            self._faces = [face for face, _ in kept]
            if self.name_every_frame:
                self._named = self.recogniser.name_faces(rgb, self._faces)
            else:
                self._named = [replace(self._named[index], box=[float(v) for v in face.box]) for face, index in kept]
        self._grey, self._count = grey, self._count + 1
        return left_to_right(self._named)

    def _track(self, before: np.ndarray, after: np.ndarray) -> list[tuple[Face, int]]:
        """The faces that could be followed into ``after``, each with its index in ``self._faces``."""
        points = np.concatenate([np.vstack([f.landmarks, f.box.reshape(2, 2)]) for f in self._faces]).astype(np.float32)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            before, after, points.reshape(-1, 1, 2), None, winSize=(21, 21), maxLevel=3
        )
        moved, status = moved.reshape(-1, 2), status.reshape(-1)
        tracked = []
        for index, face in enumerate(self._faces):
            rows = slice(index * 7, index * 7 + 7)
            if status[rows][:5].sum() < 5:
                continue
            shift = np.median(moved[rows][:5] - points[rows][:5], axis=0)
            height, width = after.shape
            box = np.clip(face.box + np.tile(shift, 2), 0, [width, height, width, height]).astype(np.float32)
            tracked.append((Face(box, face.prob, moved[rows][:5].astype(np.float32)), index))
        return tracked

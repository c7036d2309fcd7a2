"""Name the faces in a photo or frame with a trained checkpoint.

A face is named only when it is close enough to someone in the gallery: its cosine similarity to the
centre of the person the classifier picks must reach the model's calibrated threshold (models without
one fall back to the softmax confidence). Otherwise it is Unknown — a stranger, or a forgotten person.
An anchored fine-tuned model measures that similarity on its anchor's frozen embedding, and names the
face only when the anchor's nearest person is the one its head picks (``openset``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from ..common.errors import ForgetError
from ..common.images import load_rgb_scaled
from ..faces.crops import make_crop
from ..faces.detector import Face, FaceDetector, make_detector
from ..model.checkpoint import Checkpoint
from ..model.heads import similarity_to_choice
from ..model.models import inference_copy
from ..model.openset import anchor_of, anchor_verdict, deciding_head
from ..model.training import features_and_logits

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
    withheld: bool = False  # the model picked a forgotten person: Unknown at any threshold
    disputed: bool = False  # an anchored model's anchor finds the face closer to someone else: Unknown too
    track: int = -1  # in a stream: the same number for the same face from frame to frame

    @property
    def score(self) -> float:
        """What the threshold is compared with: the similarity, or (uncalibrated) the confidence."""
        return self.confidence if self.similarity is None else self.similarity

    def named_at(self, threshold: float) -> str:
        """The name shown at ``threshold``: the chosen person, or Unknown."""
        named = self.top and not (self.withheld or self.disputed) and self.score >= threshold
        return self.top[0][0] if named else UNKNOWN

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
        suppressed: frozenset[int] = frozenset(),
        detector_name: str | None = None,
    ) -> None:
        """``detector_name``: which detector finds the faces (default: the one whose faces the model was
        trained on, so it reads the crops it learned from); ``detector``: one already made, reused when
        it is that kind."""
        self.checkpoint = checkpoint
        self.suppressed = frozenset(suppressed)  # classes never named (forgotten people a model still knows)
        self.device = torch.device(device)
        self.spec = checkpoint.crop
        wanted = detector_name or self.spec.detector
        if self.spec.align == "none":
            self.detector = None
        elif detector is not None and detector.name == wanted:
            self.detector = detector
        else:
            self.detector = make_detector(wanted)
        self.threshold = checkpoint.threshold if threshold is None else threshold
        self.top_k = top_k
        self._model = inference_copy(checkpoint.model).to(self.device)  # the checkpoint itself stays as it was
        self._anchor = anchor_of(self._model)

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
        model = self._model
        features, logits = features_and_logits(model, batch, self.spec, self.device, ready=True)
        probs = torch.softmax(logits, 1)
        agree = [True] * len(crops)
        if not self.checkpoint.calibrated:
            similarity = [None] * len(crops)
        elif self._anchor is None:
            similarity = similarity_to_choice(self.checkpoint.model.head, features, logits).tolist()
        else:  # who: the fine-tuned head; whether close enough, and whether the anchor agrees: the anchor
            frozen = features_and_logits(self._anchor, batch, self.spec, self.device, ready=True)[0]
            picked, agreed = anchor_verdict(deciding_head(self.checkpoint.model), frozen, logits)
            similarity, agree = picked.tolist(), agreed.tolist()
        classes = self.checkpoint.classes
        results = []
        for face, crop, row, close, agreed in zip(faces, crops, probs, similarity, agree, strict=True):
            values, index = row.topk(min(self.top_k + len(self.suppressed), len(classes)))
            ranked = list(zip(index.tolist(), values.tolist()))
            top = [(classes[i], float(v)) for i, v in ranked if i not in self.suppressed][: self.top_k]
            result = FaceResult([float(v) for v in face.box], UNKNOWN, ranked[0][1], top, crop, face.prob, close)
            result.disputed = not agreed
            if ranked[0][0] in self.suppressed:  # never named, never as a look-alike, no score given away
                result.withheld, result.confidence, result.similarity = True, 0.0, None
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


def box_iou(a, b) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


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

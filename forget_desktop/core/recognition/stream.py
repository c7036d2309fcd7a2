"""Recognition for a video or camera stream: detect now and then, follow the faces in between.

MTCNN every ``detect_interval`` seconds (or every ``detect_every`` frames), and in between the faces'
landmarks and boxes are followed with pyramidal Lucas–Kanade optical flow; names travel with the boxes.
At a detection, a face found where a named face was being followed keeps its name and only new faces
are named (every face is named afresh at every ``rename_every``-th detection). With ``background``
the detector runs on a thread of its own — MTCNN always runs on the CPU, never on the accelerator the
ML thread owns — so a detection never holds up the frames: its faces, found in an earlier frame, are
followed into the current one when they arrive.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace

import cv2
import numpy as np

from ..faces.detector import Face, FaceDetector
from .recognise import FaceResult, Recogniser, box_iou, left_to_right


def follow(faces: list[Face], before: np.ndarray, after: np.ndarray) -> list[tuple[Face, int]]:
    """The faces that can be followed from grey image ``before`` into ``after`` (with optical flow),
    each with its index in ``faces``; a face whose landmarks are lost is left out."""
    if not faces:
        return []
    points = np.concatenate([np.vstack([f.landmarks, f.box.reshape(2, 2)]) for f in faces]).astype(np.float32)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        before, after, points.reshape(-1, 1, 2), None, winSize=(21, 21), maxLevel=3
    )
    moved, status = moved.reshape(-1, 2), status.reshape(-1)
    height, width = after.shape
    followed = []
    for index, face in enumerate(faces):
        rows = slice(index * 7, index * 7 + 7)
        if status[rows][:5].sum() < 5:
            continue
        shift = np.median(moved[rows][:5] - points[rows][:5], axis=0)
        box = np.clip(face.box + np.tile(shift, 2), 0, [width, height, width, height]).astype(np.float32)
        followed.append((Face(box, face.prob, moved[rows][:5].astype(np.float32)), index))
    return followed


class BackgroundDetector:
    """A face detector on its own thread, one frame at a time: ``submit`` returns at once (False while a
    frame is still being searched), ``take`` hands over (grey frame, faces) once, when ready."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._request: tuple[np.ndarray, np.ndarray] | None = None
        self._result: tuple[np.ndarray, list[Face]] | None = None
        self._busy = self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="face-detector")
        self._thread.start()

    def submit(self, rgb: np.ndarray, grey: np.ndarray) -> bool:
        with self._lock:
            if self._busy or self._closed:
                return False
            self._request, self._busy = (rgb, grey), True
        self._wake.set()
        return True

    def take(self) -> tuple[np.ndarray, list[Face]] | None:
        with self._lock:
            result, self._result = self._result, None
            return result

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                if self._closed:
                    return
                request = self._request
            if request is None:
                continue
            rgb, grey = request
            try:
                faces = self.detector.detect(rgb)
            except Exception:  # noqa: BLE001 - a frame the detector cannot take: no faces found in it
                faces = []
            with self._lock:
                self._result, self._request, self._busy = (grey, faces), None, False


class VideoRecogniser:
    """See the module docstring. Owned by the ML thread; ``close`` stops its detector thread."""

    def __init__(
        self,
        recogniser: Recogniser,
        detect_every: int | None = None,
        detect_interval: float = 0.2,
        rename_every: int = 5,
        fast: bool = True,
        name_every_frame: bool = False,
        background: bool = False,
        clock=time.monotonic,
    ) -> None:
        self.recogniser = recogniser
        self.detect_every, self.detect_interval = detect_every, detect_interval
        self.rename_every, self.name_every_frame, self.clock = max(1, rename_every), name_every_frame, clock
        needs_detector = recogniser.spec.align != "none"
        self.detector = FaceDetector(fast=True) if fast and needs_detector else recogniser.detector
        self.background = BackgroundDetector(self.detector) if background and self.detector else None
        self.reset()

    def reset(self) -> None:
        self._grey: np.ndarray | None = None
        self._faces: list[Face] = []
        self._named: list[FaceResult] = []
        self._count = 0
        self._detections = 0
        self._detected_at = -math.inf
        if self.background is not None:
            self.background.take()  # a detection of the last stream is of no use to this one

    def close(self) -> None:
        if self.background is not None:
            self.background.close()

    def _detection_due(self, now: float) -> bool:
        if self.detect_every is not None:
            return self._count % self.detect_every == 0 or not self._faces
        return now - self._detected_at >= self.detect_interval

    def recognise(self, rgb: np.ndarray) -> list[FaceResult]:
        if self.recogniser.spec.align == "none":
            return self.recogniser.recognise(rgb)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        now = self.clock()
        first = self._grey is None or self._grey.shape != grey.shape
        arrived = self.background.take() if self.background is not None else None
        if first and self.background is not None:  # nothing to follow yet: the first detection is on its way
            self._faces, self._named, self._detected_at = [], [], -math.inf
        elif first or (self.background is None and self._detection_due(now)):
            faces = self.detector.detect(rgb) if self.detector else []
            self._use_detection(rgb, faces, fresh=first, now=now)
        elif arrived is not None:  # found in an earlier frame: follow them into this one
            before, found = arrived
            self._use_detection(rgb, [face for face, _ in follow(found, before, grey)], fresh=False, now=None)
        else:
            kept = follow(self._faces, self._grey, grey)
            self._faces = [face for face, _ in kept]
            if self.name_every_frame:
                self._named = self.recogniser.name_faces(rgb, self._faces)
            else:
                self._named = [replace(self._named[index], box=[float(v) for v in face.box]) for face, index in kept]
        if self.background is not None and self._detection_due(now) and self.background.submit(rgb, grey):
            self._detected_at = now
        self._grey, self._count = grey, self._count + 1
        return left_to_right(self._named)

    def _use_detection(self, rgb: np.ndarray, faces: list[Face], fresh: bool, now: float | None) -> None:
        self._named = self._name_detected(rgb, faces, fresh)
        self._faces, self._detections = faces, self._detections + 1
        if now is not None:
            self._detected_at = now

    def _name_detected(self, rgb: np.ndarray, faces: list[Face], fresh: bool) -> list[FaceResult]:
        """Names for newly detected faces: a face where a named one was being followed keeps that name
        (until the periodic renaming), the others are named now, in one batch."""
        named: list[FaceResult | None] = [None] * len(faces)
        if not fresh and self._detections % self.rename_every:
            for index, face in enumerate(faces):
                best = max(self._named, key=lambda r: box_iou(r.box, face.box), default=None)
                if best is not None and box_iou(best.box, face.box) >= 0.5:
                    named[index] = replace(best, box=[float(v) for v in face.box], detection_prob=face.prob)
        new = [index for index, result in enumerate(named) if result is None]
        for index, result in zip(new, self.recogniser.name_faces(rgb, [faces[i] for i in new])):
            named[index] = result
        return named

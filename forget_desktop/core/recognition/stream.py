"""Recognition for a video or camera stream: faces are tracked from frame to frame, so names are stable.

YuNet is fast enough to search every frame (``every_frame``): each face it finds where a named face was in the last
frame (the best overlap, one to one) is the same face and keeps its name; only new faces are named, and
on every second frame that names none, the one tracked face named longest ago (``rename_every`` detections
or more) is named afresh.

MTCNN is not: it searches every ``detect_interval`` seconds (or every ``detect_every`` frames), and in
between the faces' landmarks and boxes are followed with pyramidal Lucas–Kanade optical flow; names
travel with the boxes. With ``background`` it runs on a thread of its own — always on the CPU, never on
the accelerator the ML thread owns — so a detection never holds up the frames: its faces, found in an
earlier frame, are followed into the current one when they arrive.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace

import cv2
import numpy as np

from ..common.runtime import stream_threads
from ..faces.detector import Face, FaceDetector, make_detector
from .recognise import FaceResult, Recogniser, box_iou, left_to_right

REFRESH_EVERY = 2  # a stale name is named afresh on every second frame at most: each costs a face's embedding


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
        rename_every: int = 10,
        fast: bool = True,
        background: bool = False,
        clock=time.monotonic,
    ) -> None:
        """``fast``: the detector's video preset (YuNet: one search scale; MTCNN: a coarser pyramid);
        ``detect_every``, ``detect_interval`` and ``background`` apply to a detector too slow for every
        frame (MTCNN)."""
        self.recogniser = recogniser
        self.detect_every, self.detect_interval = detect_every, detect_interval
        self.rename_every, self.clock = max(1, rename_every), clock
        detector = recogniser.detector
        self.detector = make_detector(detector.name, video=True) if fast and detector is not None else detector
        self.every_frame = self.detector is not None and self.detector.every_frame
        use_thread = background and self.detector is not None and not self.every_frame
        self.background = BackgroundDetector(self.detector) if use_thread else None
        self.reset()

    def reset(self) -> None:
        self._grey: np.ndarray | None = None
        self._faces: list[Face] = []
        self._named: list[FaceResult] = []
        self._named_at: dict[int, int] = {}  # track → the detection at which it was last named
        self._tracks = 0
        self._count = 0
        self._detections = 0
        self._detected_at = -math.inf
        if self.background is not None:
            self.background.take()  # a detection of the last stream is of no use to this one

    def close(self) -> None:
        if self.background is not None:
            self.background.close()

    @property
    def detections(self) -> int:
        """How many frames of this stream were searched for faces so far."""
        return self._detections

    def _detection_due(self, now: float) -> bool:
        if self.detect_every is not None:
            return self._count % self.detect_every == 0 or not self._faces
        return now - self._detected_at >= self.detect_interval

    def recognise(self, rgb: np.ndarray) -> list[FaceResult]:
        """The faces of the next frame of the stream, left to right, each with its ``track`` (on one thread
        of torch and two of OpenCV: see ``stream_threads``)."""
        with stream_threads():
            return self._recognise(rgb)

    def _recognise(self, rgb: np.ndarray) -> list[FaceResult]:
        if self.recogniser.spec.align == "none":
            return self.recogniser.recognise(rgb)
        if self.every_frame:
            first = self._count == 0
            self._use_detection(rgb, self.detector.detect(rgb), fresh=first, now=None)
            self._count += 1
            return left_to_right(self._named)
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
            self._named = [replace(self._named[index], box=[float(v) for v in face.box]) for face, index in kept]
        if self.background is not None and self._detection_due(now) and self.background.submit(rgb, grey):
            self._detected_at = now
        self._grey, self._count = grey, self._count + 1
        return left_to_right(self._named)

    def _use_detection(self, rgb: np.ndarray, faces: list[Face], fresh: bool, now: float | None) -> None:
        self._detections += 1
        self._named = self._name_detected(rgb, faces, fresh)
        self._faces = faces
        self._named_at = {r.track: self._named_at.get(r.track, self._detections) for r in self._named}
        if now is not None:
            self._detected_at = now

    def _name_detected(self, rgb: np.ndarray, faces: list[Face], fresh: bool) -> list[FaceResult]:
        """Names for newly detected faces: a face where a named one was keeps that name and track, the others
        are named now, in one batch. On every ``REFRESH_EVERY``-th frame that names no new face, the tracked
        face named longest ago (at least ``rename_every`` detections ago) is named afresh."""
        named: list[FaceResult | None] = [None] * len(faces)
        if not fresh:
            for index, previous in match_boxes([f.box for f in faces], [r.box for r in self._named]):
                named[index] = replace(
                    self._named[previous], box=[float(v) for v in faces[index].box], detection_prob=faces[index].prob
                )
        tracks = [r.track if r is not None else -1 for r in named]
        new = [index for index, result in enumerate(named) if result is None]
        stale = [
            i
            for i, r in enumerate(named)
            if r is not None and self._detections - self._named_at[r.track] >= self.rename_every
        ]
        if stale and not new and self._detections % REFRESH_EVERY == 0:
            oldest = min(stale, key=lambda i: self._named_at[tracks[i]])
            named[oldest], new = None, [oldest]  # named afresh, on the same track
            self._named_at.pop(tracks[oldest])
        for index, result in zip(new, self.recogniser.name_faces(rgb, [faces[i] for i in new])):
            if tracks[index] < 0:
                self._tracks += 1
                tracks[index] = self._tracks
            result.track = tracks[index]
            named[index] = result
        return named


def match_boxes(boxes: list, previous: list, min_iou: float = 0.3) -> list[tuple[int, int]]:
    """Pairs (index in ``boxes``, index in ``previous``) of the same face in two frames: the best
    overlapping pairs first, each box in at most one pair, overlap at least ``min_iou``."""
    pairs = sorted(((box_iou(a, b), i, j) for i, a in enumerate(boxes) for j, b in enumerate(previous)), reverse=True)
    used_i, used_j, matched = set(), set(), []
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            matched.append((i, j))
    return matched

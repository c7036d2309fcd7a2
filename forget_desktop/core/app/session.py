"""What one window session has open: the model in use, the folder of people and the recogniser.

Used from the ML thread only. The window never reads it: jobs hand it ``View`` snapshots instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..common.atomic import sha256_file
from ..common.errors import ForgetError
from ..common.jobs import Progress
from ..data.dataset import Exclusion
from ..data.gallery import Gallery, gallery_for_checkpoint, load_gallery
from ..faces.crops import ARCFACE_112, CropCache
from ..faces.frames import Frame
from ..model.checkpoint import Checkpoint
from ..model.training import outputs
from ..recognition.recognise import FaceResult, Recogniser
from ..recognition.stream import VideoRecogniser
from ..records.erasure import person_photos
from ..records.versions import Version


@dataclass(frozen=True)
class ModelSummary:
    """The model in use, as the window shows it."""

    path: Path | None
    people: int
    kind: str
    calibrated: bool
    threshold: float
    forgotten: tuple[str, ...]  # forgotten people it still has a slot for (never named)
    sha256: str | None = None


@dataclass(frozen=True)
class IdentityRow:
    """What the identities panel shows for one person."""

    name: str
    images: int
    train: int
    heldout: int
    accuracy: float | None  # held-out accuracy of the model in use
    thumbnail: np.ndarray | None = field(default=None, compare=False)  # aligned face crop, H×W×3 uint8
    forgotten: bool = False


@dataclass(frozen=True)
class Problem:
    """A photo that gave no face, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class View:
    """A read-only snapshot of the session for the window to render."""

    model: ModelSummary | None = None
    gallery_root: Path | None = None
    rows: tuple[IdentityRow, ...] = ()
    problems: tuple[Problem, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (folder, why it was left out)
    versions: tuple[Version, ...] = ()
    matches: bool = False  # the model was trained on this folder of people
    left_out: str = ""  # one sentence: forgotten people and photos the last training left out


class Session:
    """The model in use, the open folder of people (split as that model was trained) and the recogniser."""

    def __init__(self, device: torch.device, cache: CropCache, exclusion: Callable[[], Exclusion] = Exclusion) -> None:
        self.device, self.cache = device, cache
        self.exclusion = exclusion  # forgotten people and photos, as the records say now
        self.checkpoint: Checkpoint | None = None
        self.sha256: str | None = None  # of the model in use's file
        self.gallery: Gallery | None = None
        self.gallery_root: Path | None = None
        self.recogniser: Recogniser | None = None
        self.stream: VideoRecogniser | None = None
        self.accuracy: dict[str, float] = {}

    # --- switching -----------------------------------------------------------------------------
    def gallery_for(self, checkpoint: Checkpoint, progress: Progress | None = None) -> Gallery | None:
        """The open folder of people read again for ``checkpoint`` when its split differs (None when the
        gallery in memory serves, or no folder is open). Reading may fail: call it before committing."""
        if self.gallery is None or self.gallery_root is None:
            return None
        if self.gallery.classes == checkpoint.classes and set(self.gallery.absent) == self.absent(checkpoint):
            return None
        return self.read_gallery(self.gallery_root, checkpoint, progress)

    def absent(self, checkpoint: Checkpoint) -> set[str]:
        """The model's classes that are forgotten: never read from the folder, never named."""
        exclusion = self.exclusion()
        gone = set(checkpoint.meta.get("forgotten") or [])
        return {c for c in checkpoint.classes if c in gone or exclusion.person(c)}

    def use(self, checkpoint: Checkpoint, gallery: Gallery | None = None) -> None:
        """Make ``checkpoint`` the model in use, with ``gallery`` (see ``gallery_for``) if it needs one."""
        detector = self.recogniser.detector if self.recogniser is not None else None
        self.checkpoint = checkpoint
        path = checkpoint.path
        self.sha256 = sha256_file(path) if path is not None and Path(path).is_file() else None
        absent = self.absent(checkpoint)
        suppressed = frozenset(i for i, c in enumerate(checkpoint.classes) if c in absent)
        self.recogniser = Recogniser(checkpoint, self.device, detector=detector, suppressed=suppressed)
        if self.stream is not None:
            self.stream.close()
        self.stream = None
        if gallery is not None:
            self.gallery = gallery
        self.accuracy = {}

    def read_gallery(
        self, folder: str | os.PathLike, checkpoint: Checkpoint | None, progress: Progress | None = None
    ) -> Gallery:
        """A folder of people (faces found once, then cached), split as ``checkpoint`` was trained."""
        progress = progress or Progress()
        exclusion = self.exclusion()
        if checkpoint is not None and checkpoint.crop.align != "none":
            try:
                return gallery_for_checkpoint(
                    checkpoint.meta, folder, checkpoint.crop, self.cache, progress, exclude=exclusion
                )
            except ForgetError:
                return load_gallery(folder, checkpoint.crop, cache=self.cache, progress=progress, exclude=exclusion)
        return load_gallery(folder, ARCFACE_112, cache=self.cache, progress=progress, exclude=exclusion)

    def open_gallery(self, folder: str | os.PathLike, progress: Progress | None = None) -> Gallery:
        gallery = self.read_gallery(folder, self.checkpoint, progress)
        self.gallery, self.gallery_root = gallery, Path(folder)
        return gallery

    # --- reading ---------------------------------------------------------------------------------
    def recognise(self, frame: Frame) -> list[FaceResult] | None:
        """Faces in one frame (None while no model is open); stream frames reuse the previous frame's
        faces via tracking."""
        if self.recogniser is None:
            return None
        if not frame.stream:
            return self.recogniser.recognise(frame.rgb)
        if self.stream is None:
            self.stream = VideoRecogniser(self.recogniser, background=True)
        if frame.index == 0:  # a new stream: nothing to follow from the last one
            self.stream.reset()
        return self.stream.recognise(frame.rgb)

    def matches(self) -> bool:
        """True when the open folder is the one the model in use was trained on."""
        return (
            self.checkpoint is not None and self.gallery is not None and self.gallery.classes == self.checkpoint.classes
        )

    def learned_sets(self, progress: Progress | None = None):
        """The model's learned part and the gallery's train and held-out sets it reads."""
        return self.gallery.learned_view(self.checkpoint.model, self.device, self.cache, progress)

    def score(self, progress: Progress | None = None) -> dict[str, float]:
        """Held-out accuracy of the model in use per person (needs the folder it was trained on)."""
        if not self.matches():
            return {}
        progress = progress or Progress()
        learned, _, heldout = self.learned_sets(progress.sub(0.0, 0.5))
        predicted = outputs(learned, heldout.images, heldout.spec, self.device, progress=progress.sub(0.5, 1.0))
        predicted = predicted.argmax(1)
        self.accuracy = {}
        for index, name in enumerate(self.gallery.classes):
            mask = heldout.labels == index
            self.accuracy[name] = float((predicted[mask] == index).float().mean()) if mask.any() else math.nan
        return self.accuracy

    def summary(self) -> ModelSummary | None:
        checkpoint = self.checkpoint
        if checkpoint is None:
            return None
        return ModelSummary(
            checkpoint.path,
            len(checkpoint.classes),
            checkpoint.kind,
            checkpoint.calibrated,
            checkpoint.threshold,
            tuple(sorted(self.absent(checkpoint))),
            self.sha256,
        )

    def identity_rows(self) -> tuple[IdentityRow, ...]:
        if self.gallery is None:
            return ()
        counts = self.gallery.split.counts()
        forgotten = self.forgotten_folders()
        thumbs: dict[int, np.ndarray] = {}
        for image, label in zip(self.gallery.train.images, self.gallery.train.labels.tolist()):
            if label not in thumbs and image.shape[0] == 3:
                thumbs[label] = image.permute(1, 2, 0).numpy().copy()
        rows = []
        for index, name in enumerate(self.gallery.classes):
            train, heldout = counts.get(name, (0, 0))
            photos = train + heldout if name in counts else len(person_photos(self.gallery_root, name))
            rows.append(
                IdentityRow(name, photos, train, heldout, self.accuracy.get(name), thumbs.get(index), name in forgotten)
            )
        for name in sorted(forgotten - set(self.gallery.classes)):  # their folders, still on disk
            rows.append(IdentityRow(name, len(person_photos(self.gallery_root, name)), 0, 0, None, None, True))
        return tuple(rows)

    def forgotten_folders(self) -> set[str]:
        """Folders of the open gallery that hold forgotten people (by name, or all their photos)."""
        exclusion = self.exclusion()
        if self.gallery_root is None or not exclusion or not self.gallery_root.is_dir():
            return set()
        named = {p.name for p in self.gallery_root.iterdir() if p.is_dir() and exclusion.person(p.name)}
        copies = set(self.gallery.split.left_out.people) if self.gallery else set()
        return named | {name for name in copies if (self.gallery_root / name).is_dir()}

    def view(self, versions: tuple[Version, ...] = (), left_out: str = "") -> View:
        gallery = self.gallery
        return View(
            self.summary(),
            self.gallery_root,
            self.identity_rows(),
            tuple(Problem(p.path, p.reason) for p in gallery.problems) if gallery else (),
            tuple(gallery.split.skipped.items()) if gallery else (),
            versions,
            self.matches(),
            left_out,
        )

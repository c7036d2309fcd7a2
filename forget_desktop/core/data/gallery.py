"""A gallery on disk → train and held-out crop sets, ready for training, unlearning and evaluation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..common.errors import ForgetError
from ..common.jobs import Progress
from ..faces.crops import CropCache, CropProblem, CropSet, CropSpec, build_crop_set
from ..faces.detector import DEFAULT_DETECTOR, TWINNED_DETECTORS, FaceDetector, make_detector
from ..model.embeddings import embedding_key, learned_view
from .dataset import DEFAULT_HELDOUT_FRACTION, DEFAULT_MIN_IMAGES, Exclusion, IdentitySplit, scan_identities


@dataclass
class Gallery:
    """The split, its crops, and the photos that gave no crop (with reasons).

    ``classes`` are the label names (a model's classes); ``absent`` lists classes whose photos were
    deliberately not read (people the model has forgotten)."""

    split: IdentitySplit
    train: CropSet
    heldout: CropSet
    problems: list[CropProblem]
    classes: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    embedded: dict[str, tuple[CropSet, CropSet]] = field(default_factory=dict)  # backbone key -> (train, held-out)

    def __post_init__(self) -> None:
        if not self.classes:
            self.classes = list(self.split.classes)

    def without(self, names: list[str]) -> Gallery:
        """The gallery as a model with these people's (and the absent people's) slots dropped reads it:
        their crops and embeddings gone from memory, everyone else relabelled."""
        gone = set(names) | set(self.absent)
        keep = [i for i, name in enumerate(self.classes) if name not in gone]
        return Gallery(
            self.split,
            self.train.relabelled(keep),
            self.heldout.relabelled(keep),
            self.problems,
            [self.classes[i] for i in keep],
            [],
            {
                key: (train.relabelled(keep), heldout.relabelled(keep))
                for key, (train, heldout) in self.embedded.items()
            },
        )

    def learned_view(
        self, model, device: torch.device, cache: CropCache | None = None, progress: Progress | None = None
    ):
        """``embeddings.learned_view`` of this gallery's sets, with the embeddings kept in memory."""
        if model.kind != "embedding":
            return model, self.train, self.heldout
        key = embedding_key(model)
        if key not in self.embedded:
            _, train, heldout = learned_view(model, self.train, self.heldout, device, cache, progress)
            self.embedded[key] = (train, heldout)
        return learned_view(model, *self.embedded[key], device)


def load_gallery(
    root: str | os.PathLike,
    spec: CropSpec,
    *,
    seed: int = 0,
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
    identities: int | list[str] | None = None,
    max_per_identity: int | None = None,
    min_images: int = DEFAULT_MIN_IMAGES,
    cache: CropCache | None = None,
    detector: FaceDetector | None = None,
    progress: Progress | None = None,
    extra_folders: dict[str, Path] | None = None,
    exclude: Exclusion | None = None,
) -> Gallery:
    """Scan, split and crop a gallery (face detection runs only for photos not in the cache); forgotten
    people and photos (``exclude``) are left out before any face is found."""
    progress = progress or Progress()
    split = scan_identities(
        root,
        heldout_fraction=heldout_fraction,
        seed=seed,
        min_images=min_images,
        identities=identities,
        max_per_identity=max_per_identity,
        extra_folders=extra_folders,
        exclude=exclude,
    )
    progress(0.0, f"Found {len(split.classes)} people, {len(split.train) + len(split.heldout)} photos")
    cache = cache if cache is not None else CropCache()
    if detector is None and spec.align != "none":
        detector = LazyDetector(spec.detector)
    n_train = len(split.train)
    fraction = n_train / max(n_train + len(split.heldout), 1)
    train, problems = build_crop_set(split.train, spec, detector, cache, progress.sub(0, fraction))
    heldout, more = build_crop_set(split.heldout, spec, detector, cache, progress.sub(fraction, 1))
    if len(train) == 0:
        raise ForgetError(f"No face was found in any training photo under '{root}'.")
    return Gallery(split, train, heldout, problems + more)


def gallery_for_checkpoint(
    meta: dict,
    root: str | os.PathLike,
    spec: CropSpec,
    cache: CropCache | None = None,
    progress: Progress | None = None,
    extra_folders: dict[str, Path] | None = None,
    exclude: Exclusion | None = None,
) -> Gallery:
    """The same split a checkpoint was trained on, re-read from ``root``.

    Forgotten people the model still has a slot for (older files, or a model opened although it knows
    them) are not read at all (their photos may be gone, and nothing should be derived from them
    again); their labels simply have no photos. Forgotten photos (``exclude``) are not read either."""
    split = meta.get("split") or {}
    classes = list(meta["classes"])
    forgotten = set(meta.get("forgotten") or []) | {c for c in classes if exclude is not None and exclude.person(c)}
    wanted = [name for name in classes if name not in forgotten]
    folder = Path(root)
    present = {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
    present |= set(extra_folders or {})
    missing = [name for name in wanted if name not in present] if present else []
    if missing:
        raise ForgetError(
            f"The data folder does not match the model: {len(missing)} of its people are "
            f"missing ({', '.join(missing[:3])}{', …' if len(missing) > 3 else ''})."
        )
    gallery = load_gallery(
        root,
        spec,
        seed=int(split.get("seed", 0)),
        heldout_fraction=float(split.get("heldout_fraction", DEFAULT_HELDOUT_FRACTION)),
        identities=wanted,
        max_per_identity=split.get("max_per_identity"),
        min_images=int(split.get("min_images", 1)),
        cache=cache,
        progress=progress,
        extra_folders=extra_folders,
        exclude=Exclusion(digests=exclude.digests) if exclude else None,  # the people were set aside above
    )
    if gallery.split.classes != wanted:
        missing = sorted(set(wanted) - set(gallery.split.classes))
        raise ForgetError(
            f"The data folder does not match the model: {len(missing)} of its people are "
            f"missing or have too few photos ({', '.join(missing[:3])})."
        )
    remap = torch.tensor([classes.index(name) for name in gallery.split.classes], dtype=torch.long)
    for crops in (gallery.train, gallery.heldout):
        crops.labels = remap[crops.labels] if len(crops.labels) else crops.labels
    gallery.classes, gallery.absent = classes, sorted(forgotten & set(classes))
    return gallery


class LazyDetector:
    """Creates the detector ``name`` only when a photo is not in the crop cache."""

    def __init__(self, name: str = DEFAULT_DETECTOR) -> None:
        self.name = name
        self._detector: FaceDetector | None = None

    @property
    def every_frame(self) -> bool:
        return self._made().every_frame

    def detect(self, rgb):
        return self._made().detect(rgb)

    def twin(self) -> LazyDetector | None:
        """Another lazy detector of the same kind for another thread, where that kind has twins."""
        return LazyDetector(self.name) if self.name in TWINNED_DETECTORS else None

    def _made(self) -> FaceDetector:
        if self._detector is None:
            self._detector = make_detector(self.name)
        return self._detector

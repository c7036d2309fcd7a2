"""Read-only snapshots of photos for the window: one person's photos (to tick and forget) and the ranked
outlier list (to forget, move or keep). Built on the ML thread; the window only renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.gallery import Gallery
from ..data.outliers import Suspect


@dataclass(frozen=True)
class PhotoTile:
    """One photo of a person, as the photo grid shows it."""

    path: str
    sha256: str
    heldout: bool  # kept aside to test (and calibrate) rather than trained on
    thumbnail: np.ndarray | None = field(default=None, compare=False)  # the aligned crop, H×W×3 uint8

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class OutlierRow:
    """One suspicious photo, as the outlier list shows it."""

    path: str
    person: str
    score: float
    reason: str
    closest_other: str
    sha256: str
    heldout: bool
    thumbnail: np.ndarray | None = field(default=None, compare=False)


def crop_thumbnails(gallery: Gallery) -> dict[str, np.ndarray]:
    """Each photo's aligned face crop (H×W×3), by the photo's sha256."""
    thumbnails = {}
    for crops in (gallery.train, gallery.heldout):
        if crops.images.dim() != 4 or not crops.digests:
            continue
        for image, digest in zip(crops.images, crops.digests):
            thumbnails[digest] = image.permute(1, 2, 0).numpy().copy()
    return thumbnails


def person_tiles(gallery: Gallery, name: str) -> tuple[PhotoTile, ...]:
    """The photos of ``name`` the model trains and tests on (those with a usable face), in file order."""
    if name not in gallery.classes:
        return ()
    label = gallery.classes.index(name)
    tiles = []
    for crops, heldout in ((gallery.train, False), (gallery.heldout, True)):
        for index in (crops.labels == label).nonzero().flatten().tolist():
            image = crops.images[index]
            thumbnail = image.permute(1, 2, 0).numpy().copy() if image.dim() == 3 else None
            digest = crops.digests[index] if crops.digests else ""
            tiles.append(PhotoTile(crops.sources[index], digest, heldout, thumbnail))
    return tuple(sorted(tiles, key=lambda t: t.name))


def outlier_rows(gallery: Gallery, suspects: list[Suspect], top: int) -> tuple[OutlierRow, ...]:
    """The ``top`` most suspicious photos, with their thumbnails."""
    thumbnails = crop_thumbnails(gallery)
    return tuple(
        OutlierRow(s.file, s.person, s.score, s.reason, s.closest_other, s.sha256, s.heldout, thumbnails.get(s.sha256))
        for s in suspects[:top]
    )

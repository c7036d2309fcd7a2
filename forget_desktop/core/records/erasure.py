"""After people are forgotten: delete what the app derived from their photos, and (only when the
user confirms) the photos themselves; list the model versions that still know them.

The app derives face crops (cached on disk, also used as thumbnails) and, for embedding models, each
crop's embedding (cached beside it); both carry the person's name, so they are found even after the
photos are gone.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..common.atomic import sha256_file
from ..common.errors import ForgetError
from ..common.images import list_images
from ..faces.crops import CropCache


@dataclass
class Erasure:
    """What was deleted (counts and bytes; the paths stay out of the audit log)."""

    cached_crops: int = 0
    cached_embeddings: int = 0
    photos: int = 0
    folders: list[str] = field(default_factory=list)
    bytes: int = 0

    def to_dict(self) -> dict:
        return {
            "cached_crops": self.cached_crops,
            "cached_embeddings": self.cached_embeddings,
            "photos": self.photos,
            "bytes": self.bytes,
            "photo_folders_deleted": len(self.folders),
        }


def person_photos(gallery_root: Path, name: str) -> list[Path]:
    folder = Path(gallery_root) / name
    try:
        return list_images(folder) if folder.is_dir() else []
    except OSError:
        return []


def derived_files(names: list[str], gallery_root: Path | None, cache: CropCache) -> list[Path]:
    """Cache files made from these people's photos: found by photo content hash and by identity."""
    wanted = set(names)
    digests = set()
    for name in names:
        for photo in person_photos(gallery_root, name) if gallery_root else []:
            try:
                digests.add(sha256_file(photo))
            except OSError:
                continue
    return [
        entry
        for entry in cache.entries()
        if CropCache.digest_of(entry) in digests or CropCache.identity_of(entry) in wanted
    ]


def erase_derived(names: list[str], gallery_root: Path | None, cache: CropCache) -> Erasure:
    """Delete every cached crop and embedding derived from these people's photos."""
    result = Erasure()
    for entry in derived_files(names, gallery_root, cache):
        try:
            result.bytes += entry.stat().st_size
            entry.unlink()
            if CropCache.is_embedding(entry):
                result.cached_embeddings += 1
            else:
                result.cached_crops += 1
        except FileNotFoundError:
            continue
        except OSError as error:
            raise ForgetError(
                f"A cached face crop could not be deleted ({error.strerror}); erasure is incomplete."
            ) from None
    return result


def erase_photos(names: list[str], gallery_root: Path) -> Erasure:
    """Delete these people's photo folders from the gallery (only after explicit confirmation)."""
    result = Erasure()
    root = Path(gallery_root).resolve()
    for name in names:
        folder = (root / name).resolve()
        if folder.parent != root or not folder.is_dir():
            continue  # never follow a name outside the gallery
        photos = person_photos(root, name)
        result.photos += len(photos)
        result.bytes += sum(p.stat().st_size for p in photos if p.exists())
        try:
            shutil.rmtree(folder)
        except OSError as error:
            raise ForgetError(f"The photos of {name} could not all be deleted ({error.strerror}).") from None
        result.folders.append(name)
    return result


def versions_that_know(names: list[str], versions) -> list:
    """The model versions (``Version`` objects) that have not forgotten all of these people."""
    wanted = set(names)
    return [v for v in versions if not wanted <= set(getattr(v, "forgotten", []) or [])]


def delete_version(path: str | os.PathLike) -> None:
    """Delete a model version and its sidecar files (summary, report)."""
    path = Path(path)
    for candidate in (path, path.with_suffix(".json"), path.with_name(path.stem + ".report.json")):
        candidate.unlink(missing_ok=True)

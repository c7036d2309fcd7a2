"""After people are forgotten: what to delete that the app derived from their photos, and (only when
the user confirms) the photos themselves.

The app derives face crops (cached on disk, also used as thumbnails) and, for embedding models, each
crop's embedding (cached beside it). Both are found by the content hash of the photo they came from,
and by the person they were made for, so they are found even after the photos are gone. The
deletions are owed in the records (see ``pending``) and carried out after the change commits.
"""

from __future__ import annotations

from pathlib import Path

from ..common.atomic import sha256_file
from ..common.images import list_images
from ..faces.crops import CropCache


def person_photos(gallery_root: Path | None, name: str) -> list[Path]:
    if gallery_root is None:
        return []
    folder = Path(gallery_root) / name
    try:
        return list_images(folder) if folder.is_dir() else []
    except OSError:
        return []


def photo_digests(photos: list[Path]) -> list[str]:
    """The sha256 of each readable photo file (the records keep these, never the images)."""
    digests = []
    for photo in photos:
        try:
            digests.append(sha256_file(photo))
        except OSError:
            continue
    return sorted(set(digests))


def derived_files(
    names: list[str], cache: CropCache, digests: set[str] | frozenset[str] = frozenset()
) -> list[tuple[str, Path]]:
    """Cache files made from these photos (by content hash) or for these people: ("crop" | "embedding", path)."""
    wanted = set(names)
    found = []
    for entry in cache.entries():
        if CropCache.digest_of(entry) in digests or (wanted and cache.identity(entry) in wanted):
            found.append(("embedding" if CropCache.is_embedding(entry) else "crop", entry))
    return found


def photo_files(names: list[str], gallery_root: Path) -> list[tuple[str, Path]]:
    """These people's photos and then their folders, never outside the gallery: ("photo" | "folder", path)."""
    root = Path(gallery_root).resolve()
    found = []
    for name in names:
        folder = (root / name).resolve()
        if folder.parent != root or not folder.is_dir():
            continue  # never follow a name outside the gallery
        found += [("photo", photo) for photo in person_photos(root, name)]
        found.append(("folder", folder))
    return found

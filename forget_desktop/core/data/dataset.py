"""Identity folders (ImageFolder / LFW layout) → a deterministic per-identity train/held-out split."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..common.atomic import sha256_file
from ..common.errors import ForgetError
from ..common.images import list_images
from ..common.jobs import plural

DEFAULT_HELDOUT_FRACTION = 0.2
DEFAULT_MIN_IMAGES = 5


@dataclass(frozen=True)
class Sample:
    """One photo of one identity."""

    path: Path
    label: int


@dataclass(frozen=True)
class Exclusion:
    """Who and what must not be learned: forgotten people (by the salted hash of their name) and
    forgotten photos (by content), so a renamed or copied folder is still left out."""

    names: frozenset[str] = frozenset()
    digests: frozenset[str] = frozenset()
    hashed: Callable[[str], str] = str

    def __bool__(self) -> bool:
        return bool(self.names or self.digests)

    def person(self, name: str) -> bool:
        """True for a forgotten person (``name`` may be a class a model keeps as its salted hash)."""
        return bool(self.names) and (name if name.startswith("sha256:") else self.hashed(name)) in self.names

    def photo(self, path: Path) -> bool:
        if not self.digests:
            return False
        try:
            return sha256_file(path) in self.digests
        except OSError:
            return False


@dataclass(frozen=True)
class LeftOut:
    """What an ``Exclusion`` kept out of a scan: folders (people) and photos."""

    people: tuple[str, ...] = ()  # folders left out whole (their name, or all their photos, forgotten)
    photos: int = 0  # photos left out, in those folders and elsewhere
    whole: int = 0  # of them, the photos of the folders left out whole

    def __bool__(self) -> bool:
        return bool(self.people or self.photos)

    def sentence(self) -> str:
        """One sentence for the user (empty when nothing was left out). It counts folders, not people, and names no
        one: a forgotten person's folder beside a renamed copy of it read "2 forgotten people and 16 forgotten
        photos", as if there were two people and 16 photos besides their folders."""
        if not self:
            return ""
        parts = []
        if self.people:
            count = len(self.people)
            folders = "1 forgotten person's folder" if count == 1 else f"{count} folders of forgotten people"
            parts.append(f"{folders} ({plural(self.whole, 'photo')})")
        if self.photos > self.whole:
            parts.append(f"{plural(self.photos - self.whole, 'forgotten photo')} of people who stay known")
        return f"Left out {' and '.join(parts)}: they are not learned again unless you let them back in."


@dataclass
class IdentitySplit:
    """A scanned gallery: class names, train and held-out samples, and what was left out."""

    root: Path
    classes: list[str]
    train: list[Sample]
    heldout: list[Sample]
    seed: int
    heldout_fraction: float
    min_images: int = DEFAULT_MIN_IMAGES
    max_per_identity: int | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # identity -> reason
    fingerprint: str = ""
    left_out: LeftOut = field(default_factory=LeftOut)  # forgotten people and photos kept out

    def counts(self) -> dict[str, tuple[int, int]]:
        """identity -> (train images, held-out images)."""
        result = {name: [0, 0] for name in self.classes}
        for index, samples in enumerate((self.train, self.heldout)):
            for sample in samples:
                result[self.classes[sample.label]][index] += 1
        return {name: (a, b) for name, (a, b) in result.items()}

    def split_info(self) -> dict:
        """What a checkpoint records to reproduce this split."""
        return {
            "root": str(self.root),
            "seed": self.seed,
            "heldout_fraction": self.heldout_fraction,
            "min_images": self.min_images,
            "max_per_identity": self.max_per_identity,
            "fingerprint": self.fingerprint,
            "train_images": len(self.train),
            "heldout_images": len(self.heldout),
        }


def normalise_name(name: str) -> str:
    """Compare identity names ignoring case, spaces versus underscores and extra whitespace."""
    return " ".join(name.replace("_", " ").split()).casefold()


def resolve_identities(requested: list[str], classes: list[str], known_by: str = "the model knows") -> list[str]:
    """Map user-typed names onto class names; unknown names raise one clear sentence."""
    lookup = {normalise_name(name): name for name in classes}
    resolved, unknown = [], []
    for name in requested:
        match = lookup.get(normalise_name(name))
        (resolved if match else unknown).append(match or name.strip())
    if unknown:
        raise ForgetError(
            f"Unknown identit{'y' if len(unknown) == 1 else 'ies'}: "
            f"{', '.join(unknown)} ({known_by} {len(classes)} people)."
        )
    return list(dict.fromkeys(resolved))


def scan_identities(
    root: str | os.PathLike,
    *,
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
    seed: int = 0,
    min_images: int = DEFAULT_MIN_IMAGES,
    identities: int | list[str] | None = None,
    max_per_identity: int | None = None,
    extra_folders: dict[str, Path] | None = None,
    exclude: Exclusion | None = None,
) -> IdentitySplit:
    """Scan ``root``/<identity>/<images> and split each identity's photos reproducibly.

    ``identities`` keeps the N largest identities (an int) or the named ones (a list).
    Identities with fewer than ``min_images`` photos are listed in ``skipped`` with the reason.
    The split of one identity depends only on its file names and ``seed``, so adding or
    removing other people never reshuffles it. ``extra_folders`` adds people whose photos are elsewhere
    (a person being enrolled, before their folder joins ``root``). ``exclude`` leaves out forgotten people
    and photos before anything else (``left_out`` says what).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ForgetError(f"The data folder '{root}' does not exist or is not a folder.")
    if not 0.0 < heldout_fraction < 1.0:
        raise ForgetError("The held-out fraction must be between 0 and 1, e.g. 0.2.")
    folders = {}
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        try:
            if entry.is_dir() and not entry.name.startswith("."):
                folders[entry.name] = list_images(entry)
        except OSError:
            continue
    for name, folder in (extra_folders or {}).items():
        folders[name] = list_images(Path(folder))
    if not folders:
        raise ForgetError(f"'{root}' holds no identity sub-folders: expected one folder of photos per person.")
    if isinstance(identities, list):
        chosen = resolve_identities(identities, list(folders), "the folder has")
        folders = {name: folders[name] for name in chosen}
    everything = folders  # forgotten photos included: each person's split is drawn as if they were there
    folders, left_out = apply_exclusion(folders, exclude)
    skipped, usable = {}, {}
    for name, files in folders.items():
        if len(files) < min_images:
            skipped[name] = f"{plural(len(files), 'image')}, needs {min_images}"
        else:
            usable[name] = files
    if isinstance(identities, int):
        largest = sorted(usable, key=lambda n: (-len(usable[n]), n))[:identities]
        usable = {name: usable[name] for name in sorted(largest)}
    if len(usable) < 2:
        raise ForgetError(
            f"'{root}' has {len(usable)} identit{'y' if len(usable) == 1 else 'ies'} "
            f"with at least {min_images} photos; at least 2 are needed."
            + (f" {left_out.sentence()}" if left_out else "")
        )
    classes = sorted(usable)
    train, heldout = [], []
    digest = hashlib.sha256()
    for label, name in enumerate(classes):
        kept = set(usable[name])
        files = stable_split(everything.get(name, usable[name]), f"{seed}:{name}", heldout_fraction, max_per_identity)
        if not any(path in kept for path in files[1]):  # only held-out photos left: split what is left
            files = stable_split(usable[name], f"{seed}:{name}", heldout_fraction, max_per_identity)
        heldout += [Sample(path, label) for path in sorted(files[0]) if path in kept]
        train += [Sample(path, label) for path in sorted(files[1]) if path in kept]
        for path in sorted(p for p in files[0] + files[1] if p in kept):
            digest.update(f"{name}/{path.name}:{_size(path)}\n".encode())
    return IdentitySplit(
        root,
        classes,
        train,
        heldout,
        seed,
        heldout_fraction,
        min_images,
        max_per_identity,
        skipped,
        digest.hexdigest()[:16],
        left_out,
    )


def stable_split(
    files: list[Path], key: str, heldout_fraction: float, max_per_identity: int | None
) -> tuple[list[Path], list[Path]]:
    """(held-out, train) photos of one person, drawn from their file names and ``key`` alone. Drawn over
    every photo in their folder, forgotten ones included, and only then are the forgotten ones left out:
    so forgetting a photo takes it out of its side of the split and moves no other photo (a model trained
    again without it learns from exactly the photos an exact forget keeps)."""
    files = list(files)
    random.Random(key).shuffle(files)
    if max_per_identity:
        files = files[:max_per_identity]
    n_heldout = min(max(1, round(len(files) * heldout_fraction)), len(files) - 1)
    return files[:n_heldout], files[n_heldout:]


def apply_exclusion(folders: dict[str, list[Path]], exclude: Exclusion | None) -> tuple[dict[str, list[Path]], LeftOut]:
    """``folders`` without forgotten people and photos, and what was left out."""
    if not exclude:
        return folders, LeftOut()
    kept, people, photos, whole = {}, [], 0, 0
    for name, files in folders.items():
        if exclude.person(name):
            people.append(name)
            photos, whole = photos + len(files), whole + len(files)
            continue
        remaining = [f for f in files if not exclude.photo(f)]
        photos += len(files) - len(remaining)
        if files and not remaining:
            people.append(name)  # a renamed or copied folder of a forgotten person
            whole += len(files)
        else:
            kept[name] = remaining
    return kept, LeftOut(tuple(people), photos, whole)


def _size(path: Path) -> int:
    """Byte size for the data fingerprint; -1 for a broken link (its loader reports it)."""
    try:
        return path.stat().st_size
    except OSError:
        return -1

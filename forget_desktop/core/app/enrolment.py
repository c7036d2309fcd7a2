"""Adding a person: their photos are staged in a hidden folder, the model learns them, and only when
everything worked does the folder join the gallery (the workspace commits it; see ``Workspace.enrol``)."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..common.errors import ForgetError
from ..common.images import list_images
from ..common.jobs import Progress
from ..data.dataset import Exclusion
from ..data.gallery import Gallery, gallery_for_checkpoint
from ..faces.crops import CropCache
from ..model.checkpoint import Checkpoint
from ..model.embeddings import learned_view
from ..model.heads import fit_learned
from ..model.models import FaceClassifier
from ..model.openset import deciding_head, fit_open_set
from ..model.training import Recipe, accuracy, features_and_logits, fit
from ..records.erasure import derived_files, photo_digests

MIN_PHOTOS = 5
STAGING_PREFIX = ".enrol-"  # hidden: scanning a gallery skips it


@dataclass
class Enrolled:
    """A person learned but not yet committed: the new model, its gallery and the staged photos."""

    name: str
    model: FaceClassifier
    meta: dict
    gallery: Gallery
    staging: Path  # holds <name>/<photos>; moved into the gallery on commit, removed otherwise
    heldout_acc: float

    @property
    def folder(self) -> Path:
        return self.staging / self.name


def person_name(text: str, gallery_root: Path, classes: list[str]) -> str:
    """A folder-safe name for a new person, or one sentence saying why not."""
    name = text.strip().replace(" ", "_")
    if not name or any(c in name for c in '/\\:*?"<>|') or name.startswith("."):
        raise ForgetError("Give the person a name without slashes or other special characters.")
    if (gallery_root / name).exists() or name in classes:
        raise ForgetError(f"'{name}' is already in the gallery; choose another name.")
    return name


def stage_photos(gallery_root: Path, name: str, photos: list[Path], frames: list[np.ndarray]) -> Path:
    """A hidden folder in the gallery holding ``name``/ with the photos (copied) and frames (PNG)."""
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=gallery_root))
    folder = staging / name
    try:
        folder.mkdir()
        for index, photo in enumerate(photos):
            shutil.copy2(photo, folder / f"{name}_{index + 1:04d}{Path(photo).suffix.lower()}")
        for index, rgb in enumerate(frames, start=len(photos)):
            ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            if ok:
                (folder / f"{name}_{index + 1:04d}.png").write_bytes(encoded.tobytes())
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ForgetError(f"The photos could not be added: {error.strerror or error}.") from None
    return staging


def learn_person(
    old: Checkpoint,
    gallery_root: Path,
    text: str,
    photos: list[Path],
    frames: list[np.ndarray],
    device: torch.device,
    cache: CropCache,
    progress: Progress,
    epochs: int = 1,
    exclude: Exclusion | None = None,
) -> Enrolled:
    """Stage the photos and teach a copy of ``old`` the new person; nothing outside the staging folder
    changes (the caller commits or discards the result)."""
    name = person_name(text, gallery_root, old.classes)
    count = len(photos) + len(frames)
    if count < MIN_PHOTOS:
        raise ForgetError(f"Enrolling needs at least {MIN_PHOTOS} photos; {count} were given.")
    staging = stage_photos(gallery_root, name, photos, frames)
    try:
        progress(0.05, f"Added {count} photos of {name}")
        classes = sorted(old.classes + [name])
        meta = {**old.meta, "classes": classes}
        gallery = gallery_for_checkpoint(
            meta,
            gallery_root,
            old.crop,
            cache,
            progress.sub(0.05, 0.3),
            extra_folders={name: staging / name},
            exclude=exclude,
        )
        newcomer = gallery.train.of_classes([classes.index(name)])
        if len(newcomer) == 0:
            raise ForgetError(f"No face was found in the photos of {name}; nothing was added.")
        model = extend_head(old.model, old.classes, classes, newcomer, device)
        learned, train, heldout = learned_view(
            model, gallery.train, gallery.heldout, device, cache, progress.sub(0.3, 0.4)
        )
        recipe = Recipe.from_dict(old.meta["recipe"])
        if old.kind == "embedding":  # the head is trained again from every embedding: exact, and instant
            fit_learned(learned, train, recipe, device)
        else:
            fit(model, train, recipe.with_epochs(epochs), device, progress.sub(0.4, 0.9), seed=0)
        fit_open_set(learned, train, heldout, device, progress.sub(0.9, 0.95), cache)
        heldout_acc = accuracy(learned, heldout, device)
        meta["metrics"] = {
            **old.meta.get("metrics", {}),
            "heldout_acc": heldout_acc,
            "threshold": float(deciding_head(model).threshold),
        }
        meta["split"] = gallery.split.split_info()
        return Enrolled(name, model.cpu().eval(), meta, gallery, staging, heldout_acc)
    except BaseException:
        discard(staging / name, cache)
        shutil.rmtree(staging, ignore_errors=True)
        raise


def discard(folder: Path, cache: CropCache) -> None:
    """Remove the photos of a person who was not enrolled after all, and every cache file made from them:
    an enrolment that failed or was cancelled leaves nothing derived from their face behind."""
    photos = list_images(folder) if folder.is_dir() else []
    for _, entry in derived_files([], cache, set(photo_digests(photos))):
        entry.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def join_gallery(enrolled: Enrolled, gallery_root: Path) -> Path:
    """Move the staged folder into the gallery (one rename); returns the person's folder."""
    target = gallery_root / enrolled.name
    try:
        os.rename(enrolled.folder, target)
    except OSError as error:
        raise ForgetError(
            f"The photos of {enrolled.name} could not join the folder of people "
            f"({error.strerror or error}); nothing was added."
        ) from None
    shutil.rmtree(enrolled.staging, ignore_errors=True)
    return target


def extend_head(
    model: FaceClassifier,
    old_classes: list[str],
    new_classes: list[str],
    newcomer=None,
    device: torch.device | str = "cpu",
) -> FaceClassifier:
    """A copy of ``model`` whose head names ``new_classes``: known people keep their weights, and a
    new person's row of a linear head starts from the mean of their embeddings ("weight imprinting")."""
    extended = FaceClassifier(model.backbone_name, len(new_classes), model.kind, anchored=model.anchor is not None)
    extended.embed_recipe = model.embed_recipe
    if extended.anchor is not None:  # its centres and threshold are fitted again (``fit_open_set``)
        extended.anchor.embed_recipe = model.embed_recipe
    heads = ("head.", "anchor.head.")
    state = {k: v for k, v in copy.deepcopy(model.state_dict()).items() if not k.startswith(heads)}
    extended.load_state_dict(state, strict=False)
    if model.kind == "embedding":
        return extended  # its head is fitted again from every embedding
    with torch.no_grad():
        for old_index, name in enumerate(old_classes):
            extended.head.weight[new_classes.index(name)] = model.head.weight[old_index]
            extended.head.bias[new_classes.index(name)] = model.head.bias[old_index]
        if newcomer is not None and len(newcomer):
            features = features_and_logits(model, newcomer.images, newcomer.spec, torch.device(device))[0]
            mean = features.mean(0)
            scale = model.head.weight.norm(dim=1).mean() / mean.norm().clamp_min(1e-6)
            label = int(newcomer.labels[0])
            extended.head.weight[label] = mean * scale
            extended.head.bias[label] = model.head.bias.mean()
    return extended

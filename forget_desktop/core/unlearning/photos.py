"""Forget chosen photos (not whole people): which photos they are, the four evaluation sets, the exact
forgetting of an embedding model, and the options each approximate method starts from.

A forgotten photo may be a training photo (the model learned from it) or a held-out one (the model
was calibrated on it: the threshold that decides who is Unknown is computed from held-out photos).
Either way a model trained without it is one whose split is the same minus that photo (see
``scan_identities``): its person keeps their slot and their other photos.

- **Embedding kind** (exact): each person's centre is the mean of their own training embeddings, the
  scale is the one number everyone shares and the threshold comes from the held-out photos. So the
  centres of the people concerned are computed again without the photos, the scale is refitted on
  the remaining training photos and the threshold on the remaining held-out photos: the same
  arithmetic on the same rows as training without them, which the job checks tensor by tensor.
- **Fine-tuned kind** (approximate): forgetting random photos is not forgetting a person. A model
  retrained without them still names most of them correctly — they look like the person's other
  photos — so a method must make them look *unseen*, not unknown. Hence the random-sample recipes
  (``PHOTO_OPTIONS``), none with an early stop that waits for the photos to be misnamed:
  - SalUn relabels each photo with the model's own, softened belief (its own person included) instead
    of pushing it to someone else;
  - NegGrad+ takes a quarter pass at a tenth of its people learning rate, each photo's ascent capped at
    a loss of 1 (pushed until it looks unseen, not further);
  - SCRUB runs one pass: max steps over the photos in batches of 64 at the recipe's learning rate, then
    min steps over half the retain photos;
  - SSD dampens once at the paper's α = 10 (no ladder towards misnaming them): the photos' importance is
    hardly apart from everyone's, so it changes little, or stops with its error where it would cost others.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..common.atomic import sha256_file
from ..common.errors import ForgetError
from ..data.gallery import Gallery
from ..faces.crops import CropSet
from ..model.heads import CentroidHead, class_centres, fit_scale
from .evaluation import ForgetSplits

# The random-sample recipe of each approximate method: its options for a photos request (the user's
# options override them). Chosen on scenario seeds 0 and 1 (tests/bench/photos_bench.py --tune;
# runs/tune grids 1-2 in tests/bench/results/photos-tune-cpu.md).
PHOTO_OPTIONS: dict[str, dict] = {
    "salun": {"relabel": "soft", "temperature": 4.0, "stop_early": False, "epochs": 2.0, "min_steps": 4},
    "neggrad_plus": {"stop_early": False, "epochs": 0.25, "min_steps": 5, "lr_scale": 0.3, "forget_loss_cap": 1.0},
    "scrub": {
        "stop_max": False,
        "max_epochs": 1,
        "epochs": 1,
        "retain_passes": 0.5,
        "forget_batch": 64,
        "lr_scale": 1.0,
        "max_steps": 0,
    },
    "ssd": {"alpha": 10.0, "min_alpha": 10.0, "temperature": 1.0},
    "finetune": {"epochs": 1.0},
}


@dataclass
class PhotoSplits:
    """A photos request resolved against a model's train and held-out sets."""

    splits: ForgetSplits  # forget-train: the chosen training photos; forget-test: the people's other held-out photos
    heldout: CropSet  # every held-out photo left (what the threshold is calibrated on)
    digests: dict[str, list[str]]  # person -> sha256 of their chosen photos (train and held-out)
    heldout_chosen: int  # chosen photos that were held out (calibration only)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.digests.values())


def read_photo_list(path: str | os.PathLike) -> list[Path]:
    """The photos listed in a text file, one path per line (blank lines and ``#`` comments skipped;
    relative paths are relative to the list's folder)."""
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ForgetError(f"The photo list {path} cannot be read ({error}).") from None
    photos = []
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#"):
            photo = Path(text).expanduser()
            photos.append(photo if photo.is_absolute() else path.parent / photo)
    if not photos:
        raise ForgetError(f"The photo list {path} names no photo; write one photo path per line.")
    return photos


def photo_digests(photos: list[Path], data: str | os.PathLike) -> list[str]:
    """The sha256 of each chosen photo, after checking that it is a readable file inside ``data``."""
    root = Path(os.path.abspath(Path(data).expanduser()))
    digests = []
    for photo in photos:
        resolved = Path(os.path.abspath(Path(photo).expanduser()))  # a linked photo is where its link is
        if root not in resolved.parents:
            raise ForgetError(f"{photo} is not inside the data folder {root}; list photos of that folder only.")
        try:
            digests.append(sha256_file(resolved))
        except OSError:
            raise ForgetError(f"The photo {photo} cannot be read (is it still there?).") from None
    return list(dict.fromkeys(digests))


def photo_splits(
    photos: list[Path], data: str | os.PathLike, train: CropSet, heldout: CropSet, classes: list[str]
) -> PhotoSplits:
    """Resolve the chosen photos (by content, so a copy is the same photo) in the model's sets and
    build the evaluation sets; one sentence for a photo the model never used or a request that
    would leave someone without training photos."""
    wanted = photo_digests(photos, data)
    in_train = torch.tensor([d in set(wanted) for d in train.digests], dtype=torch.bool)
    in_heldout = torch.tensor([d in set(wanted) for d in heldout.digests], dtype=torch.bool)
    found = {train.digests[i] for i in in_train.nonzero().flatten().tolist()}
    found |= {heldout.digests[i] for i in in_heldout.nonzero().flatten().tolist()}
    missing = [p for p, d in zip(photos, wanted) if d not in found]
    if missing:
        raise ForgetError(
            f"{len(missing)} of the chosen photos (e.g. {Path(missing[0]).name}) are not among the photos this "
            "model was trained or tested on (no usable face, a person it does not know, or forgotten before)."
        )
    forget_train, kept_heldout = train.where(in_train), heldout.where(~in_heldout)
    retain_train = train.where(~in_train)
    labels = sorted(set(forget_train.labels.tolist()) | set(heldout.where(in_heldout).labels.tolist()))
    left = set(retain_train.labels.tolist())
    emptied = [classes[label] for label in labels if label not in left]
    if emptied:
        raise ForgetError(
            f"That would forget every training photo of {', '.join(n.replace('_', ' ') for n in emptied)}; "
            "forget the person instead, or keep at least one of their photos."
        )
    digests: dict[str, list[str]] = {}
    for data_set, mask in ((train, in_train), (heldout, in_heldout)):
        for index in mask.nonzero().flatten().tolist():
            digests.setdefault(classes[int(data_set.labels[index])], []).append(data_set.digests[index])
    splits = ForgetSplits(
        forget_train,
        kept_heldout.of_classes(labels),
        retain_train,
        kept_heldout.of_classes(labels, keep=False),
        classes,
        labels,
    )
    return PhotoSplits(splits, kept_heldout, {k: sorted(set(v)) for k, v in digests.items()}, int(in_heldout.sum()))


@torch.no_grad()
def exact_forget_photos(model, retain: CropSet, forget: CropSet, progress) -> torch.nn.Module:
    """An embedding model's head without these training photos: the centres of their people computed
    again from their remaining photos, then the shared scale refitted on every remaining photo."""
    head = model.head
    if not isinstance(head, CentroidHead):
        raise ForgetError(
            "Exact forgetting needs an embedding model (a frozen backbone); for this fine-tuned model "
            "choose Retrain (exact, but slow) or an approximate method."
        )
    progress(0.0, "Exact: recomputing their centres without the photos")
    people = torch.unique(forget.labels)
    if len(people):
        centres = class_centres(retain.images, retain.labels, head.out_features)
        head.weight[people.to(head.weight.device)] = centres[people].to(head.weight.device, head.weight.dtype)
    progress(0.5, "Exact: refitting the shared scale")
    fit_scale(head, retain.images, retain.labels)
    progress(1.0, "Exact: done")
    return model


def photo_options(method: str, given: dict | None) -> dict:
    """A photos request's options for ``method``: its random-sample recipe, overridden by ``given``."""
    return {**PHOTO_OPTIONS.get(method, {}), **(given or {})}


def gallery_without_photos(gallery: Gallery, digests: set[str]) -> Gallery:
    """The gallery as it is read once these photos are forgotten (their crops and embeddings out of
    memory, the split's counts without them)."""
    if not digests:
        return gallery

    def keep(crops: CropSet) -> CropSet:
        if not crops.digests:
            return crops
        return crops.where(torch.tensor([d not in digests for d in crops.digests], dtype=torch.bool))

    sources = {
        source
        for crops in (gallery.train, gallery.heldout)
        for source, digest in zip(crops.sources, crops.digests)
        if digest in digests
    }
    split = dataclasses.replace(
        gallery.split,
        train=[s for s in gallery.split.train if str(s.path) not in sources],
        heldout=[s for s in gallery.split.heldout if str(s.path) not in sources],
    )
    return Gallery(
        split,
        keep(gallery.train),
        keep(gallery.heldout),
        gallery.problems,
        list(gallery.classes),
        list(gallery.absent),
        {key: (keep(train), keep(heldout)) for key, (train, heldout) in gallery.embedded.items()},
    )

"""Find the photos that do not belong: a mislabelled photo, someone else's face in a person's folder, an
old photo that no longer looks like them, a face too small or blurred to learn from.

Every photo of the model's people (training and held-out) is compared, by cosine similarity of face
embeddings, with

- its person's *other* photos (leave-one-out: the centre of their photos without this one), and
- every other person's centre.

``score`` = similarity to the closest other person − similarity to its own person's other photos: above
0 the photo is closer to someone else than to its own person. Each photo gets the reasons that apply, and the
list is ranked most suspicious first: the photos with a reason, by score, then the others, by score:

- "closer to <person> than to their own photos" (score above 0);
- "unlike every other photo of them": its similarity to its own person's other photos is far below theirs
  to each other (more than ``UNLIKE_MADS`` robust deviations below the person's median);
- "face too small or blurred": the face the detector found is much smaller, or the aligned crop much less
  sharp (variance of its Laplacian), than is usual in this folder.

The embeddings are the model's own for an embedding model (its frozen backbone). A fine-tuned model has
learned its training photos under their folder's name, which hides exactly the mislabelled ones, so its
starting point — the pretrained backbone, frozen — is used instead, where it has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..common.errors import ForgetError
from ..common.jobs import Progress
from ..faces.crops import EMBEDDING, CropCache, CropSet
from ..model.backbones import get_backbone
from ..model.embeddings import learned_view
from ..model.models import build_classifier
from ..model.training import features_and_logits

UNLIKE_MADS = 4.0  # "unlike every other photo of them": this many robust deviations below their median
SMALL_SHARE = 0.5  # a face whose shorter side is under this share of the folder's median is small
BLUR_SHARE = 0.25  # a crop whose sharpness is under this share of the folder's median is blurred


@dataclass(frozen=True)
class Suspect:
    """One photo, how suspicious it is and why."""

    file: str
    person: str
    score: float
    reason: str  # the reasons that apply, joined by "; " (empty: nothing unusual)
    closest_other: str
    own_similarity: float
    other_similarity: float
    sha256: str = ""
    heldout: bool = False  # a held-out photo (the model was tested, not trained, on it)

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "person": self.person,
            "score": round(self.score, 4),
            "reason": self.reason,
            "closest_other": self.closest_other,
            "own_similarity": round(self.own_similarity, 4),
            "other_similarity": round(self.other_similarity, 4),
            "heldout": self.heldout,
            "sha256": self.sha256,
        }


def frozen_embeddings(
    checkpoint,
    train: CropSet,
    heldout: CropSet,
    device: torch.device,
    cache: CropCache | None = None,
    progress: Progress | None = None,
) -> tuple[CropSet, CropSet, str]:
    """Embeddings of the photos under a backbone that has not learned them under their folder's name:
    an embedding model's own, else a fine-tuned model's pretrained starting point (from the embedding
    cache where it is), else — trained from scratch — its own features. Returns which it used."""
    model = checkpoint.model
    if model.kind == "embedding":
        _, train, heldout = learned_view(model, train, heldout, device, cache, progress)
        return train, heldout, "the model's embeddings"
    if model.anchor is not None:  # its anchor is the pretrained starting point, frozen
        _, train, heldout = learned_view(model.anchor, train, heldout, device, cache, progress)
        return train, heldout, "the pretrained backbone's embeddings"
    backbone = checkpoint.meta.get("backbone") or model.backbone_name
    if get_backbone(backbone).pretrained and train.spec != EMBEDDING:
        weights = (checkpoint.meta.get("start") or {}).get("weights")
        try:
            frozen, _ = build_classifier(backbone, len(checkpoint.classes), weights, 0, "embedding")
        except ForgetError:
            frozen = None
        if frozen is not None:
            _, train, heldout = learned_view(frozen, train, heldout, device, cache, progress)
            return train, heldout, "the pretrained backbone's embeddings"
    progress = progress or Progress()
    sets = []
    for index, data in enumerate((train, heldout)):
        features, _ = features_and_logits(
            model, data.images, data.spec, device, progress=progress.sub(index / 2, (index + 1) / 2)
        )
        sets.append(CropSet(features, data.labels, EMBEDDING, data.sources, data.digests))
    return sets[0], sets[1], "the model's own features"


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of a crop's grey image (low: blurred)."""
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_side(cache: CropCache | None, digest: str, spec) -> float:
    """The shorter side of the face the detector found in a photo, in pixels (NaN when unknown)."""
    box = cache.face_box(digest, spec) if cache is not None and digest else None
    if box is None:
        return math.nan
    x1, y1, x2, y2 = (float(v) for v in box)
    return min(x2 - x1, y2 - y1)


def find_outliers(
    classes: list[str],
    crops: tuple[CropSet, CropSet],
    embeddings: tuple[CropSet, CropSet],
    cache: CropCache | None = None,
    kept: set[str] | frozenset[str] = frozenset(),
    progress: Progress | None = None,
) -> list[Suspect]:
    """Every photo of the model's people with its score and reasons, most suspicious first (photos the user
    chose to keep, by sha256 in ``kept``, are left out)."""
    progress = progress or Progress()
    train, heldout = embeddings
    features = F.normalize(torch.cat([train.images, heldout.images]).float(), dim=1)
    labels = torch.cat([train.labels, heldout.labels])
    sources = list(train.sources) + list(heldout.sources)
    digests = list(train.digests) + list(heldout.digests)
    held = [False] * len(train) + [True] * len(heldout)
    images = [crops[0], crops[1]]
    if len(labels) == 0:
        raise ForgetError("The folder holds no photo of the model's people with a usable face.")
    progress(0.0, "Comparing every photo with the others")
    count = len(classes)
    sums = torch.zeros(count, features.shape[1]).index_add_(0, labels, features)
    sizes = torch.bincount(labels, minlength=count).float()
    # Leave-one-out: each photo against the mean of its person's other photos.
    others = sums[labels] - features
    own = torch.where(
        sizes[labels] > 1, (features * others).sum(1) / others.norm(dim=1).clamp_min(1e-12), torch.tensor(math.nan)
    )
    centres = F.normalize(sums, dim=1)
    similarity = features @ centres.T
    similarity[torch.arange(len(labels)), labels] = -math.inf
    similarity[:, sizes == 0] = -math.inf
    other, closest = similarity.max(1)
    progress(0.5, "Checking face size and sharpness")
    spec = crops[0].spec
    sides = np.array([face_side(cache, d, spec) for d in digests])
    sharp = np.array(
        [sharpness(data.images[i].permute(1, 2, 0).numpy()) for data in images for i in range(len(data))]
        if crops[0].images.dim() == 4
        else [math.nan] * len(labels)
    )
    small_limit = SMALL_SHARE * np.nanmedian(sides) if np.isfinite(sides).any() else -math.inf
    blur_limit = BLUR_SHARE * np.nanmedian(sharp) if np.isfinite(sharp).any() else -math.inf
    own_np, other_np, labels_np = own.numpy(), other.numpy(), labels.numpy()
    unlike = np.zeros(len(labels), dtype=bool)
    for label in range(count):
        mine = np.nonzero((labels_np == label) & np.isfinite(own_np))[0]
        if len(mine) < 3:
            continue
        median = np.median(own_np[mine])
        spread = 1.4826 * np.median(np.abs(own_np[mine] - median)) + 1e-6
        unlike[mine] = own_np[mine] < median - UNLIKE_MADS * spread
    suspects = []
    for i in range(len(labels)):
        if digests and digests[i] in kept:
            continue
        reasons = []
        score = float(other_np[i] - own_np[i]) if np.isfinite(own_np[i]) else math.nan
        name = classes[int(closest[i])]
        if score > 0:
            reasons.append(f"closer to {name.replace('_', ' ')} than to their own photos")
        if unlike[i]:
            reasons.append("unlike every other photo of them")
        if sides[i] < small_limit or sharp[i] < blur_limit:
            reasons.append("face too small or blurred")
        suspects.append(
            Suspect(
                sources[i],
                classes[int(labels_np[i])],
                score,
                "; ".join(reasons),
                name,
                float(own_np[i]),
                float(other_np[i]),
                digests[i] if digests else "",
                held[i],
            )
        )
    # a photo with a reason before any in which nothing unusual was found (a blurred copy's score is ordinary)
    suspects.sort(key=lambda s: (not s.reason, -(s.score if math.isfinite(s.score) else -math.inf), s.file))
    progress(1.0, f"Ranked {len(suspects)} photos")
    return suspects


def relative_file(path: str, root: Path | None) -> str:
    """A photo's path inside the data folder (as given when it is elsewhere)."""
    if root is None:
        return path
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return path

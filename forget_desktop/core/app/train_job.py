"""Train a new identity classifier from a gallery folder: the job behind train_face.py and the window."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..common.devices import describe_device
from ..common.jobs import Progress
from ..data.dataset import Exclusion
from ..data.gallery import Gallery, load_gallery
from ..faces.crops import CropCache, CropProblem
from ..faces.detector import DEFAULT_DETECTOR
from ..model.backbones import check_kind, get_backbone
from ..model.checkpoint import Checkpoint, make_meta, save_checkpoint
from ..model.embeddings import learned_view
from ..model.heads import EMBEDDING_RECIPE, fit_learned, fit_open_set
from ..model.models import build_classifier, pretrained_weights_path
from ..model.training import Recipe, accuracy


@dataclass
class TrainRequest:
    """What the user asked for (mirrors train_face.py's options)."""

    data: Path
    backbone: str = "mobilefacenet"
    out: Path | None = None
    weights: str | None = None
    epochs: int | None = None
    identities: int | list[str] | None = None
    max_per_identity: int | None = None
    seed: int = 0
    heldout_fraction: float = 0.2
    min_images: int = 5
    kind: str | None = None  # "embedding" or "finetuned"; None: the backbone's default
    exclude: Exclusion | None = None  # forgotten people and photos, left out (see ``Records.requests``)
    detector: str = DEFAULT_DETECTOR  # which face detector finds the faces ("yunet" or "mtcnn")


@dataclass
class TrainResult:
    checkpoint: Checkpoint
    gallery: Gallery
    seconds: float
    heldout_acc: float
    train_acc: float
    problems: list[CropProblem] = field(default_factory=list)


def recipe_for(backbone: str, kind: str, epochs: int | None = None) -> Recipe:
    """How a model of this backbone and kind is trained (recorded in its checkpoint)."""
    return EMBEDDING_RECIPE if kind == "embedding" else get_backbone(backbone).recipe.with_epochs(epochs)


def train_model(
    request: TrainRequest,
    device: torch.device,
    progress: Progress | None = None,
    cache: CropCache | None = None,
    gallery: Gallery | None = None,
) -> TrainResult:
    """Crop the gallery, train the classifier, score it and (if ``out``) save it."""
    progress = progress or Progress()
    kind = check_kind(request.backbone, request.kind)
    pretrained_weights_path(request.backbone, request.weights)  # fail before minutes of detection
    if gallery is None:
        gallery = load_gallery(
            request.data,
            get_backbone(request.backbone).crop.with_detector(request.detector),
            seed=request.seed,
            heldout_fraction=request.heldout_fraction,
            identities=request.identities,
            max_per_identity=request.max_per_identity,
            min_images=request.min_images,
            cache=cache,
            progress=progress.sub(0.0, 0.3),
            exclude=request.exclude,
        )
    model, start = build_classifier(request.backbone, len(gallery.classes), request.weights, request.seed, kind)
    recipe = recipe_for(request.backbone, kind, request.epochs)
    started = time.perf_counter()
    learned, train, heldout = learned_view(model, gallery.train, gallery.heldout, device, cache, progress.sub(0.3, 0.9))
    fit_learned(learned, train, recipe, device, progress.sub(0.3, 0.9), request.seed)
    fit_open_set(learned, train, heldout, device, progress.sub(0.9, 0.97))
    seconds = time.perf_counter() - started
    progress(0.97, "Scoring held-out photos")
    heldout_acc = accuracy(learned, heldout, device)
    train_acc = accuracy(learned, train, device)
    metrics = {
        "heldout_acc": heldout_acc,
        "train_acc": train_acc,
        "train_seconds": round(seconds, 2),
        "device": describe_device(device),
        "photos_without_face": len(gallery.problems),
        "threshold": float(model.head.threshold),
    }
    meta = make_meta(
        model, gallery.classes, split=gallery.split.split_info(), start=start, recipe=recipe.to_dict(), metrics=metrics
    )
    meta["crop"] = gallery.train.spec.to_dict()  # names the detector that found the faces
    checkpoint = Checkpoint(model.cpu().eval(), meta, None)
    if request.out is not None:
        checkpoint.path = save_checkpoint(model, meta, os.fspath(request.out))
    progress(1.0, f"Held-out accuracy {heldout_acc:.1%}")
    return TrainResult(checkpoint, gallery, seconds, heldout_acc, train_acc, gallery.problems)

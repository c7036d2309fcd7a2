"""Train a new identity classifier from a gallery folder: the job behind train_face.py and the window."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import Checkpoint, make_meta, save_checkpoint
from .crops import CropCache, CropProblem
from .devices import describe_device
from .gallery import Gallery, load_gallery
from .jobs import Progress
from .models import BACKBONES, build_classifier, pretrained_weights_path
from .training import RECIPES, accuracy, fit


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


@dataclass
class TrainResult:
    checkpoint: Checkpoint
    gallery: Gallery
    seconds: float
    heldout_acc: float
    train_acc: float
    problems: list[CropProblem] = field(default_factory=list)


def train_model(request: TrainRequest, device: torch.device, progress: Progress | None = None,
                cache: CropCache | None = None, gallery: Gallery | None = None) -> TrainResult:
    """Crop the gallery, fine-tune or train the classifier, score it and (if ``out``) save it."""
    progress = progress or Progress()
    info = BACKBONES[request.backbone]
    pretrained_weights_path(request.backbone, request.weights)  # fail before minutes of detection
    if gallery is None:
        gallery = load_gallery(request.data, info.crop, seed=request.seed,
                               heldout_fraction=request.heldout_fraction, identities=request.identities,
                               max_per_identity=request.max_per_identity, min_images=request.min_images,
                               cache=cache, progress=progress.sub(0.0, 0.3))
    model, start = build_classifier(request.backbone, len(gallery.classes), request.weights, request.seed)
    recipe = RECIPES[request.backbone].with_epochs(request.epochs)
    started = time.perf_counter()
    fit(model, gallery.train, recipe, device, progress.sub(0.3, 0.97), seed=request.seed)
    seconds = time.perf_counter() - started
    progress(0.97, "Scoring held-out photos")
    heldout_acc = accuracy(model, gallery.heldout, device)
    train_acc = accuracy(model, gallery.train, device)
    metrics = {"heldout_acc": heldout_acc, "train_acc": train_acc, "train_seconds": round(seconds, 1),
               "device": describe_device(device), "photos_without_face": len(gallery.problems)}
    meta = make_meta(model, gallery.classes, split=gallery.split.split_info(), start=start,
                     recipe=recipe.to_dict(), metrics=metrics)
    checkpoint = Checkpoint(model.cpu(), meta, None)
    if request.out is not None:
        checkpoint.path = save_checkpoint(model, meta, os.fspath(request.out))
    progress(1.0, f"Held-out accuracy {heldout_acc:.1%}")
    return TrainResult(checkpoint, gallery, seconds, heldout_acc, train_acc, gallery.problems)

"""Train a new identity classifier from a gallery folder: the job behind train_face.py and the window."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..common.devices import describe_device
from ..common.jobs import Progress
from ..common.plan import Part, Plan
from ..common.rates import Stage
from ..data.dataset import Exclusion, scan_identities
from ..data.gallery import Gallery, load_gallery
from ..faces.crops import CropCache, CropProblem, CropSpec
from ..faces.detector import DEFAULT_DETECTOR
from ..model.backbones import check_kind, get_backbone
from ..model.checkpoint import Checkpoint, make_meta, save_checkpoint
from ..model.embeddings import cached_embeddings, embedding_part
from ..model.heads import EMBEDDING_RECIPE, fit_learned
from ..model.models import build_classifier, pretrained_weights_path
from ..model.openset import deciding_head, fit_open_set, open_set_part
from ..model.training import Recipe, accuracy, schedule


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


def finding_faces(photos: int, spec: CropSpec, cache: CropCache | None, device: str, cached: int | None = None) -> Part:
    """The stage that finds the faces in ``photos`` photos, or reads those the cache holds (``cached``:
    how many it will hold by then; None: count them now)."""
    cached = min(photos, (cache or CropCache()).count(spec) if cached is None else cached)
    find = "find-faces" if spec.detector in ("", DEFAULT_DETECTOR) else f"find-faces-{spec.detector}"
    return ("faces", [Stage("read-crops", cached, device), Stage(find, photos - cached, device)])


def training_stages(
    photos: int,
    request: TrainRequest,
    device: torch.device,
    cache: CropCache | None = None,
    find_faces: bool = True,
    cached_photos: int | None = None,
) -> list[Part]:
    """The stages of training on ``photos`` photos, each with its units of work (see ``common.plan``):
    finding the faces (unless ``find_faces`` is off; ``cached_photos`` as in ``finding_faces``), embedding
    them (embedding models), fitting, the open-set threshold and scoring."""
    kind = check_kind(request.backbone, request.kind)
    spec = get_backbone(request.backbone).crop.with_detector(request.detector)
    recipe, on = recipe_for(request.backbone, kind, request.epochs), device.type
    stages: list[Part] = [finding_faces(photos, spec, cache, on, cached_photos)] if find_faces else []
    pretrained = get_backbone(request.backbone).pretrained
    embedded = cached_embeddings(cache, spec, request.backbone) if pretrained else 0
    if kind == "embedding":
        stages.append(embedding_part("embed", photos, embedded, device, cache is not None))
    train = round(photos * (1 - request.heldout_fraction))
    batch, epochs = schedule(recipe, max(train, 1))
    fitting = train if recipe.head == "centroid" else epochs * max(train, batch)
    anchored = kind == "finetuned" and pretrained  # its anchor's embeddings decide Unknown
    open_set = open_set_part(kind, anchored, photos, embedded, device, cache is not None)
    stages += [Stage(f"fit-{kind}", fitting, on), open_set]
    return [*stages, Stage(f"accuracy-{kind}", photos, on)]


def workspace_training_stages(
    request: TrainRequest,
    device: torch.device,
    cache: CropCache | None,
    photos: int | None = None,
    cached_photos: int | None = None,
) -> list[Part]:
    """The window's Train job: training (``training_stages``), keeping the model (file and records) and
    scoring it per person (``photos``: how many there will be, None: count them now; ``cached_photos`` as
    in ``finding_faces``)."""
    photos = photos_to_train_on(request) if photos is None else photos
    kind = check_kind(request.backbone, request.kind)
    heldout = round(photos * request.heldout_fraction)
    training = training_stages(photos, request, device, cache, cached_photos=cached_photos)
    keep = Stage(f"keep-model-{kind}", 1, device.type)
    return [("train", training), keep, Stage(f"score-{kind}", heldout, device.type)]


def photos_to_train_on(request: TrainRequest) -> int:
    """How many photos training on ``request.data`` reads (a quick scan of the folder, nothing opened)."""
    split = scan_identities(
        request.data,
        heldout_fraction=request.heldout_fraction,
        seed=request.seed,
        min_images=request.min_images,
        identities=request.identities,
        max_per_identity=request.max_per_identity,
        exclude=request.exclude,
    )
    return len(split.train) + len(split.heldout)


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
    photos = len(gallery.train) + len(gallery.heldout) if gallery is not None else photos_to_train_on(request)
    plan = Plan(progress, training_stages(photos, request, device, cache, find_faces=gallery is None))
    if gallery is None:
        with plan.stage("faces") as step:
            gallery = load_gallery(
                request.data,
                get_backbone(request.backbone).crop.with_detector(request.detector),
                seed=request.seed,
                heldout_fraction=request.heldout_fraction,
                identities=request.identities,
                max_per_identity=request.max_per_identity,
                min_images=request.min_images,
                cache=cache,
                progress=step,
                exclude=request.exclude,
            )
    model, start = build_classifier(request.backbone, len(gallery.classes), request.weights, request.seed, kind)
    recipe = recipe_for(request.backbone, kind, request.epochs)
    started = time.perf_counter()
    learned, train, heldout = model, gallery.train, gallery.heldout
    if kind == "embedding":
        with plan.stage("embed") as step:
            learned, train, heldout = gallery.learned_view(model, device, cache, step)  # kept for scoring after
    with plan.stage(f"fit-{kind}") as step:
        fit_learned(learned, train, recipe, device, step, request.seed)
    with plan.stage(f"open-set-{kind}") as step:
        fit_open_set(learned, train, heldout, device, step, cache)
    seconds = time.perf_counter() - started
    with plan.stage(f"accuracy-{kind}") as step:
        step(0.0, "Scoring held-out photos")
        heldout_acc = accuracy(learned, heldout, device)
        step(0.2, "Scoring the training photos")
        train_acc = accuracy(learned, train, device)
    metrics = {
        "heldout_acc": heldout_acc,
        "train_acc": train_acc,
        "train_seconds": round(seconds, 2),
        "device": describe_device(device),
        "photos_without_face": len(gallery.problems),
        "threshold": float(deciding_head(model).threshold),
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

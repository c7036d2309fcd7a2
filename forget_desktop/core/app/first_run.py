"""The first-run path: from a fresh machine to a model recognising faces, in one job.

Each step is skipped when it is already done, so after a failure or a cancel the same job goes on from
where it stopped (a half-finished download resumes). Its stages, and so the bar, the time left and the
welcome page's promise, come from this machine's measured rates (``common.rates``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..common.devices import pick_device
from ..common.downloads import (
    ITEMS,
    default_lfw_dir,
    download_lfw_people,
    download_weights,
    lfw_stages,
    pinned,
    weights_destination,
)
from ..common.images import list_images
from ..common.jobs import Progress
from ..common.plan import Part, Plan, predicted_seconds
from ..common.rates import Stage
from ..data.dataset import DEFAULT_HELDOUT_FRACTION
from ..faces.crops import CropCache
from ..model.backbones import get_backbone
from .train_job import TrainRequest, finding_faces, workspace_training_stages
from .workspace import Workspace

LFW_PHOTOS = 3023  # photos of the 62 LFW people with at least 20, before it is downloaded
BACKBONE = "mobilefacenet"


def has_people(folder: Path) -> bool:
    """True for a folder with at least two sub-folders of photos."""
    try:
        return sum(1 for p in folder.iterdir() if p.is_dir() and list_images(p)) >= 2
    except OSError:
        return False


def photo_count(folder: Path) -> int:
    """Photos in a folder of people (LFW's count before it is there)."""
    if not has_people(folder):
        return LFW_PHOTOS
    return sum(len(list_images(p)) for p in folder.iterdir() if p.is_dir())


def first_run_stages(lfw: Path, device: torch.device, cache: CropCache | None = None) -> list[Part]:
    """What Get started will do on this machine, each with its units of work (see ``common.plan``)."""
    weights = pinned(BACKBONE)
    weights_mb = 0.0 if weights_destination(weights).is_file() else (weights.bytes or 0) / 1e6
    photos = photo_count(lfw)
    spec = get_backbone(BACKBONE).crop
    request = TrainRequest(lfw, BACKBONE)
    return [
        Stage("download", weights_mb, "network"),
        ("lfw", [] if has_people(lfw) else lfw_stages()),
        finding_faces(photos, spec, cache, device.type),
        ("train", workspace_training_stages(request, device, cache, photos, cached_photos=photos)),
        Stage("score-embedding", round(photos * DEFAULT_HELDOUT_FRACTION), device.type),
    ]


def first_run_seconds(lfw: Path | None = None, device: torch.device | None = None) -> float:
    """The seconds Get started is predicted to take on this machine now (the defaults until measured)."""
    return predicted_seconds(first_run_stages(Path(lfw or default_lfw_dir()), device or pick_device()))


def get_started(workspace: Workspace, progress: Progress, lfw: Path | None = None) -> Path:
    """Download what is missing (MobileFaceNet weights, the LFW demo), read the people, train the
    default model (an embedding model: seconds once the faces are found) and return a photo to show."""
    lfw = Path(lfw or default_lfw_dir())
    plan = Plan(progress, first_run_stages(lfw, workspace.device, workspace.cache))
    with plan.stage("download") as step:
        if not weights_destination(ITEMS[BACKBONE]).is_file():
            download_weights(BACKBONE, step)
    with plan.stage("lfw") as step:
        if not has_people(lfw):
            download_lfw_people(lfw, progress=step)
    if plan.groups[1]:  # LFW was downloaded: what comes after it, for the photos now there
        now = first_run_stages(lfw, workspace.device, workspace.cache)
        for name, part in zip(("faces", "train", "score-embedding"), now[2:], strict=True):
            plan.revise(name, part)
    with plan.stage("faces") as step:
        step(0.0, "Finding the faces in the photos (once; they are cached)")
        workspace.open_gallery(lfw, step)
    if workspace.session.matches():
        plan.skip("train")
    else:
        with plan.stage("train") as step:
            workspace.train(BACKBONE, None, None, None, step)
    with plan.stage("score-embedding") as step:
        workspace.score(step)
    heldout = workspace.gallery.heldout
    progress(1.0, "Ready")
    return Path(heldout.sources[0]) if len(heldout) else Path(workspace.gallery.train.sources[0])

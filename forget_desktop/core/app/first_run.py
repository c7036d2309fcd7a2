"""The first-run path: from a fresh machine to a model recognising faces, in one job.

Each step is skipped when it is already done, so after a failure or a cancel the same job goes on from
where it stopped (a half-finished download resumes).
"""

from __future__ import annotations

from pathlib import Path

from ..common.downloads import ITEMS, default_lfw_dir, download_lfw_people, download_weights, weights_destination
from ..common.images import list_images
from ..common.jobs import Progress
from .workspace import Workspace


def has_people(folder: Path) -> bool:
    """True for a folder with at least two sub-folders of photos."""
    try:
        return sum(1 for p in folder.iterdir() if p.is_dir() and list_images(p)) >= 2
    except OSError:
        return False


def get_started(workspace: Workspace, progress: Progress, lfw: Path | None = None) -> Path:
    """Download what is missing (MobileFaceNet weights, the LFW demo), read the people, train the
    default model (an embedding model: seconds once the faces are found) and return a photo to show."""
    lfw = Path(lfw or default_lfw_dir())
    weights_missing = not weights_destination(ITEMS["mobilefacenet"]).is_file()
    lfw_missing = not has_people(lfw)
    # Rough seconds on a laptop: downloads at ~5 MB/s, faces found at ~15 photos/s, then embedding.
    steps = progress.stages(1 if weights_missing else 0, 50 if lfw_missing else 0, 200, 60)
    if weights_missing or lfw_missing:
        progress.estimate_time(False)  # a download's speed says nothing about the steps after it
    if weights_missing:
        download_weights("mobilefacenet", steps[0])
    if lfw_missing:
        download_lfw_people(lfw, progress=steps[1])
    steps[2].estimate_time(True)
    steps[2](0.0, "Finding the faces in the photos (once; they are cached)")
    workspace.open_gallery(lfw, steps[2])
    if not workspace.session.matches():
        workspace.train("mobilefacenet", None, None, None, steps[3])
    workspace.score(steps[3])
    heldout = workspace.gallery.heldout
    progress(1.0, "Ready")
    return Path(heldout.sources[0]) if len(heldout) else Path(workspace.gallery.train.sources[0])

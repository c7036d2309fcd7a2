"""Downloads with progress, cancel, checksum and all-or-nothing writes, and one sentence offline."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from .errors import ForgetError
from .images import list_images
from .jobs import Progress, Throttle
from .models import VGGFACE2_FILE, VGGFACE2_URL
from .paths import torch_checkpoints_dir

# scikit-learn's published copy of LFW (funneled) and its sha256 (sklearn.datasets._lfw).
LFW_FUNNELED_URL = "https://ndownloader.figshare.com/files/5976015"
LFW_FUNNELED_SHA256 = "b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a"
CHUNK = 1 << 16


def _offline_sentence(what: str, url: str, error: BaseException) -> str:
    host = urlparse(url).hostname or url
    reason = getattr(error, "reason", error)
    if isinstance(reason, socket.gaierror) or isinstance(error, socket.gaierror):
        why = f"{host} cannot be reached (no internet connection?)"
    elif isinstance(error, urllib.error.HTTPError):
        why = f"{host} answered HTTP {error.code}"
    elif isinstance(reason, (TimeoutError, socket.timeout)):
        why = f"{host} did not answer in time"
    else:
        why = f"{host} cannot be reached ({reason})"
    return f"Could not download {what}: {why}; nothing was written."


def download_file(url: str, dest: str | os.PathLike, *, what: str, sha256: str | None = None,
                  progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``dest`` via a temporary file that is renamed only when complete and verified."""
    progress = progress or Progress()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        digest = hashlib.sha256()
        progress(0.0, f"Connecting for {what}")
        try:
            response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - fixed https URLs
        except (urllib.error.URLError, OSError) as error:
            raise ForgetError(_offline_sentence(what, url, error)) from None
        total = int(response.headers.get("Content-Length") or 0)
        done, throttle = 0, Throttle(0.2)
        with response, os.fdopen(fd, "wb") as handle:
            fd = -1
            while True:
                try:
                    block = response.read(CHUNK)
                except (OSError, urllib.error.URLError) as error:
                    raise ForgetError(_offline_sentence(what, url, error)) from None
                if not block:
                    break
                handle.write(block)
                digest.update(block)
                done += len(block)
                if throttle.ready():
                    size = f"{done / 1e6:.0f} of {total / 1e6:.0f} MB" if total else f"{done / 1e6:.0f} MB"
                    progress(done / total if total else 0.0, f"Downloading {what}: {size}")
            handle.flush()
            os.fsync(handle.fileno())
        if total and done != total:
            raise ForgetError(f"The download of {what} stopped early ({done} of {total} bytes); "
                              "nothing was written.")
        if sha256 and digest.hexdigest() != sha256:
            raise ForgetError(f"The download of {what} is corrupt (checksum mismatch); nothing was written.")
        os.replace(tmp, dest)
        progress(1.0, f"Downloaded {what}")
        return dest
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def download_vggface2_weights(progress: Progress | None = None) -> Path:
    """facenet-pytorch's VGGFace2 InceptionResnetV1 weights into $TORCH_HOME/checkpoints/."""
    dest = torch_checkpoints_dir() / VGGFACE2_FILE
    if dest.is_file():
        return dest
    return download_file(VGGFACE2_URL, dest, what="the VGGFace2 weights (107 MB)", progress=progress)


def download_lfw_people(dest: str | os.PathLike, min_faces: int = 20,
                        progress: Progress | None = None) -> Path:
    """The LFW people with ≥ ``min_faces`` photos, one folder per person, into ``dest``.

    Works in a temporary folder beside ``dest``; ``dest`` appears only when everything is ready.
    """
    progress = progress or Progress()
    dest = Path(dest).expanduser()
    if dest.exists() and any(dest.iterdir()):
        raise ForgetError(f"'{dest}' already exists and is not empty; choose a new folder.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    try:
        archive = download_file(LFW_FUNNELED_URL, work / "lfw-funneled.tgz", what="LFW (233 MB)",
                                sha256=LFW_FUNNELED_SHA256, progress=progress.sub(0, 0.85))
        progress(0.85, "Unpacking LFW")
        with tarfile.open(archive) as tar:
            tar.extractall(work / "x", filter="data")
        archive.unlink()
        people = [p for p in (work / "x").rglob("*") if p.is_dir() and len(list_images(p)) >= min_faces]
        if not people:
            raise ForgetError("The LFW download holds no person with enough photos.")
        selected = work / "people"
        selected.mkdir()
        for index, folder in enumerate(sorted(people)):
            progress(0.9 + 0.1 * index / len(people), f"Keeping {folder.name}")
            shutil.move(str(folder), selected / folder.name)
        if dest.exists():
            dest.rmdir()
        os.replace(selected, dest)
        progress(1.0, f"LFW: {len(people)} people in {dest}")
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)

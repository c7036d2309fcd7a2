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
from .paths import data_dir, torch_checkpoints_dir

# scikit-learn's published copy of LFW (funneled) and its sha256 (sklearn.datasets._lfw).
LFW_FUNNELED_URL = "https://ndownloader.figshare.com/files/5976015"
LFW_FUNNELED_SHA256 = "b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a"
CHUNK = 1 << 16


def _causes(error: BaseException, depth: int = 6):
    """The error and what it wraps (causes, contexts, ``reason`` and exception args)."""
    seen, queue = [], [error]
    while queue and len(seen) < depth * 4:
        item = queue.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        queue += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return seen


def _offline_sentence(what: str, url: str, error: BaseException) -> str:
    host = urlparse(url).hostname or url
    causes = _causes(error)
    if any(isinstance(c, socket.gaierror) or "NameResolution" in type(c).__name__ for c in causes):
        why = f"{host} cannot be reached (no internet connection?)"
    elif isinstance(error, urllib.error.HTTPError):
        why = f"{host} answered HTTP {error.code}"
    elif any(isinstance(c, (TimeoutError, socket.timeout)) or "Timeout" in type(c).__name__ for c in causes):
        why = f"{host} did not answer in time"
    else:
        reason = getattr(error, "reason", error)
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


GDRIVE_FOLDER_ENV = "FORGET_GDRIVE_FOLDER"


def default_downloads_dir() -> Path:
    """``forget_downloads/`` in the app's data folder (the original project's folder name)."""
    return data_dir() / "forget_downloads"


def download_gdrive_folder(folder_id: str | None, dest: str | os.PathLike | None = None,
                           progress: Progress | None = None, timeout: float = 30.0) -> list[Path]:
    """A published Google Drive weights folder, via gdown, into ``dest`` (default forget_downloads/).

    Files are listed first, then fetched one by one into temporary names that are renamed only
    when complete; cancelling stops between files. Google Drive publishes no checksums, so none is
    checked. ``folder_id`` falls back to $FORGET_GDRIVE_FOLDER.
    """
    import gdown
    import requests

    progress = progress or Progress()
    folder_id = (folder_id or os.environ.get(GDRIVE_FOLDER_ENV) or "").strip()
    if not folder_id:
        raise ForgetError(f"No Google Drive folder id is set: pass --folder-id or set {GDRIVE_FOLDER_ENV}.")
    dest = Path(dest) if dest else default_downloads_dir()
    what = f"the Google Drive folder {folder_id}"
    progress(0.0, f"Listing {what}")
    try:
        listing = gdown.download_folder(id=folder_id, output=str(dest), quiet=True, skip_download=True,
                                        timeout=timeout)
    except requests.exceptions.RequestException as error:
        raise ForgetError(_offline_sentence(what, "https://drive.google.com", error)) from None
    except Exception as error:  # noqa: BLE001 - gdown raises several kinds for a bad or private folder
        raise ForgetError(f"Could not list {what} ({type(error).__name__}); check the id and that the "
                          "folder is shared publicly. Nothing was written.") from None
    saved = []
    for index, entry in enumerate(listing or []):
        progress(index / max(len(listing), 1), f"Downloading {Path(entry.path).name} ({index + 1}/{len(listing)})")
        target = dest / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
        try:
            if gdown.download(id=entry.id, output=tmp, quiet=True) is None:
                raise ForgetError(f"Could not download {target.name} from {what}; nothing more was written.")
            os.replace(tmp, target)
            saved.append(target)
        except requests.exceptions.RequestException as error:
            raise ForgetError(_offline_sentence(target.name, "https://drive.google.com", error)) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    progress(1.0, f"Downloaded {len(saved)} files into {dest}")
    return saved

"""Every file the app can fetch, pinned (URL, sha256, size), and the one way it fetches them: progress,
cancel, a temporary file renamed only when complete and verified, and one sentence when offline.

``$FORGET_DOWNLOAD_MIRROR=http://host:port`` fetches ``<mirror>/<host><path>`` of each URL instead: an
offline mirror, and what lets the tests run this code against a loopback server with the real bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from .errors import ForgetError
from .images import list_images
from .jobs import Progress, Throttle
from .paths import data_dir, torch_checkpoints_dir
from .plan import Plan
from .rates import Stage

MIRROR_ENV = "FORGET_DOWNLOAD_MIRROR"
LFW_BYTES = 233_000_000  # about; the pinned item gives no exact size
MANIFEST_ENV = "FORGET_DOWNLOAD_MANIFEST"  # a local JSON file: {name: {"sha256": ..., "bytes": ...}}
MOBILEFACENET_ENV = "FORGET_MOBILEFACENET_WEIGHTS"
GDRIVE_FOLDER_ENV = "FORGET_GDRIVE_FOLDER"
CHUNK = 1 << 16


@dataclass(frozen=True)
class DownloadItem:
    """One file the app can download, and what the user is told about it."""

    name: str  # as typed after `download`
    title: str
    url: str
    sha256: str | None
    bytes: int | None
    size_text: str
    terms: str  # provenance and terms, shown where the user chooses it

    def to_json(self) -> dict:
        return {"name": self.name, "url": self.url, "sha256": self.sha256, "bytes": self.bytes}


ITEMS: dict[str, DownloadItem] = {
    item.name: item
    for item in (
        DownloadItem(
            "mobilefacenet",
            "MobileFaceNet",
            "https://raw.githubusercontent.com/foamliu/MobileFaceNet/"
            "a6cc9032a659b615f477833e1a70b5e7931bcccc/weights/mobilefacenet.pt",
            "90a00ba1d8b0b688af3deb731ed53dca582e6106805d1bc3cfdef55f570493f4",
            4_135_271,
            "4 MB",
            "From github.com/foamliu/MobileFaceNet (Apache-2.0 repository). The weights were trained on "
            "MS-Celeb-1M, whose terms allow non-commercial research only: fit for research and demos.",
        ),
        # sha256 as recorded by a public project that pins the same file (its MTCNN hashes match this
        # package's byte for byte); the file itself cannot be fetched on the machines this was built on.
        DownloadItem(
            "vggface2",
            "VGGFace2",
            "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt",
            "281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b",
            None,
            "107 MB",
            "facenet-pytorch's port of David Sandberg's FaceNet (MIT), trained on VGGFace2: research use.",
        ),
        # scikit-learn's published copy of LFW (funneled) and its sha256 (sklearn.datasets._lfw).
        DownloadItem(
            "lfw",
            "LFW",
            "https://ndownloader.figshare.com/files/5976015",
            "b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a",
            None,
            "233 MB",
            "Labeled Faces in the Wild (UMass Amherst): photos of public figures, for research.",
        ),
    )
}


def pinned(name: str) -> DownloadItem:
    """The download called ``name``, with the checksum and size a local manifest gives, if the user set
    ``$FORGET_DOWNLOAD_MANIFEST`` (for an offline mirror that serves other bytes, e.g. a subset of LFW)."""
    item = ITEMS[name]
    manifest = os.environ.get(MANIFEST_ENV)
    if not manifest:
        return item
    try:
        override = json.loads(Path(manifest).read_text(encoding="utf-8")).get(name) or {}
    except (OSError, ValueError):
        raise ForgetError(f"The download manifest {manifest} cannot be read; nothing was downloaded.") from None
    return replace(item, sha256=override.get("sha256", item.sha256), bytes=override.get("bytes", item.bytes))


def weights_destination(item: DownloadItem) -> Path:
    """Where a weights download is kept (and looked for)."""
    if item.name == "mobilefacenet":
        return Path(os.environ.get(MOBILEFACENET_ENV) or data_dir() / "models" / "mobilefacenet.pt")
    return torch_checkpoints_dir() / Path(urlparse(item.url).path).name


def resolve_url(url: str) -> str:
    """``url``, or its copy on the mirror named by ``$FORGET_DOWNLOAD_MIRROR``."""
    mirror = os.environ.get(MIRROR_ENV, "").strip().rstrip("/")
    if not mirror:
        return url
    parsed = urlparse(url)
    return f"{mirror}/{parsed.hostname}{parsed.path}"


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
    elif any(isinstance(c, ConnectionRefusedError) for c in causes):
        why = f"{host} refused the connection"
    else:
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or "the connection failed"
        why = f"{host} cannot be reached ({str(reason).rstrip('.')})"
    return f"Could not download {what}: {why}; nothing was written."


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    what: str,
    sha256: str | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
    resume: bool = False,
) -> Path:
    """Fetch ``url`` into ``dest`` through a temporary file renamed only when complete and verified.

    With ``resume`` the temporary file is kept when the download stops (failure or cancel), and the
    next call asks the server for the rest (HTTP Range) instead of starting again."""
    progress = progress or Progress()
    dest = Path(dest)
    url = resolve_url(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    if not resume:
        partial.unlink(missing_ok=True)
    done = partial.stat().st_size if partial.exists() else 0
    digest = hashlib.sha256()
    completed = False
    try:
        progress(0.0, f"Connecting for {what}")
        request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - pinned URLs or the mirror
        except urllib.error.HTTPError as error:
            if error.code == 416 and done:  # nothing left to fetch: the partial file is the whole file
                response = None
            else:
                raise ForgetError(_offline_sentence(what, url, error)) from None
        except (urllib.error.URLError, OSError) as error:
            raise ForgetError(_offline_sentence(what, url, error)) from None
        if response is not None and response.status != 206:
            done = 0  # the server sent the whole file: start again
        if done:
            with open(partial, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        total = done + int(response.headers.get("Content-Length") or 0) if response is not None else done
        throttle = Throttle(0.2)
        with response or contextlib.nullcontext(), open(partial, "ab" if done else "wb") as handle:
            while response is not None:
                progress.check()
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
                    size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
                    progress(done / total if total else 0.0, f"Downloading {what}: {size}")
            handle.flush()
            os.fsync(handle.fileno())
        if total and done != total:
            raise ForgetError(
                f"The download of {what} stopped early ({done:,} of {total:,} bytes)"
                + ("; it will go on from there next time." if resume else "; nothing was written.")
            )
        if sha256 and digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            raise ForgetError(f"The download of {what} is corrupt (its checksum does not match); nothing was written.")
        os.replace(partial, dest)
        completed = True
        progress(1.0, f"Downloaded {what}")
        return dest
    finally:
        if not completed and not resume:
            with contextlib.suppress(OSError):
                os.unlink(partial)


def download_weights(name: str, progress: Progress | None = None) -> Path:
    """A pretrained backbone's weights into the place the app looks for them (kept if already there)."""
    item = pinned(name)
    dest = weights_destination(item)
    if dest.is_file():
        return dest
    return download_file(
        item.url,
        dest,
        what=f"the {item.title} weights ({item.size_text})",
        sha256=item.sha256,
        progress=progress,
        resume=True,
    )


def download_lfw_people(dest: str | os.PathLike, min_faces: int = 20, progress: Progress | None = None) -> Path:
    """The LFW people with ≥ ``min_faces`` photos, one folder per person, into ``dest``.

    The archive is fetched beside ``dest`` (resumed if an earlier try stopped), unpacked in a temporary
    folder, and ``dest`` appears only when everything is ready.
    """
    progress = progress or Progress()
    item = pinned("lfw")
    dest = Path(dest).expanduser()
    if dest.exists() and any(dest.iterdir()):
        raise ForgetError(f"'{dest}' already exists and is not empty; choose a new folder.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    archive = dest.parent / f".{dest.name}.lfw-funneled.tgz"
    plan = Plan(progress, lfw_stages(0.0 if archive.is_file() else None))
    with plan.stage("download") as step:
        if not archive.is_file():
            what = f"LFW ({item.size_text})"
            download_file(item.url, archive, what=what, sha256=item.sha256, progress=step, resume=True)
    with plan.stage("unpack") as step:
        return unpack_lfw(archive, dest, min_faces, step)


def lfw_stages(download_mb: float | None = None) -> list[Stage]:
    """Downloading the LFW archive (``download_mb``, default all of it) and unpacking it, in MB."""
    item = pinned("lfw")
    mb = (item.bytes or LFW_BYTES) / 1e6
    return [Stage("download", mb if download_mb is None else download_mb, "network"), Stage("unpack", mb)]


def unpack_lfw(archive: Path, dest: Path, min_faces: int, progress: Progress) -> Path:
    """The people with ≥ ``min_faces`` photos of a downloaded LFW archive, into ``dest`` (see above)."""
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    try:
        progress(0.0, "Unpacking LFW")
        try:
            size = max(archive.stat().st_size, 1)
            with open(archive, "rb") as raw, tarfile.open(fileobj=raw) as tar:
                for index, member in enumerate(tar):
                    progress.check()
                    if index % 64 == 0:
                        progress(0.9 * raw.tell() / size, "Unpacking LFW")
                    tar.extract(member, work / "x", filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            archive.unlink(missing_ok=True)
            raise ForgetError(
                f"The LFW archive could not be unpacked ({getattr(error, 'strerror', None) or error}); "
                "it will be downloaded again next time."
            ) from None
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
        archive.unlink(missing_ok=True)
        progress(1.0, f"LFW: {len(people)} people in {dest}")
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def default_lfw_dir() -> Path:
    """Where the LFW demo goes unless the user says otherwise."""
    return data_dir() / "lfw-demo"


def default_downloads_dir() -> Path:
    """``forget_downloads/`` in the app's data folder (the original project's folder name)."""
    return data_dir() / "forget_downloads"


def download_gdrive_folder(
    folder_id: str | None,
    dest: str | os.PathLike | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> list[Path]:
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
        listing = gdown.download_folder(id=folder_id, output=str(dest), quiet=True, skip_download=True, timeout=timeout)
    except requests.exceptions.RequestException as error:
        raise ForgetError(_offline_sentence(what, "https://drive.google.com", error)) from None
    except Exception:  # noqa: BLE001 - gdown raises several kinds for a bad or private folder
        raise ForgetError(
            f"Could not list {what}; check the id and that the folder is shared publicly. Nothing was written."
        ) from None
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

"""A real HTTP server on 127.0.0.1 that plays the download mirror (``$FORGET_DOWNLOAD_MIRROR``): it serves
real bytes from ../shared at ``/<host><path>`` of each pinned URL, answers Range requests, and can be
told to cut a body short of its Content-Length."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

from conftest import LFW, MOBILEFACENET
from forget_desktop.core.common.downloads import ITEMS
from forget_desktop.core.common.images import list_images


def mirror_path(name: str) -> str:
    """Where the mirror serves a pinned download: ``/<host><path>``."""
    url = urlparse(ITEMS[name].url)
    return f"/{url.hostname}{url.path}"


def lfw_archive(people: dict[str, int]) -> bytes:
    """LFW photos from ../shared packed as the real download is: ``lfw_funneled/<Name>/<Name>_0001.jpg``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, count in people.items():
            for photo in list_images(LFW / name)[:count]:
                tar.add(photo, arcname=f"lfw_funneled/{name}/{photo.name}")
    return buffer.getvalue()


class Mirror:
    """``with Mirror({path: bytes}) as mirror:`` serves them at ``mirror.url``; ``mirror.cut`` holds paths
    whose next response stops halfway; ``mirror.requests`` records (path, Range header)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.cut, self.requests = dict(files), set(), []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                mirror.requests.append((self.path, self.headers.get("Range")))
                body = mirror.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                if self.path in mirror.cut:
                    mirror.cut.discard(self.path)
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def real_files(lfw_people: dict[str, int] | None = None) -> tuple[dict[str, bytes], dict]:
    """The mirror's files (real MobileFaceNet bytes; LFW packed from ../shared) and a download manifest
    giving the packed archive's own checksum."""
    files = {mirror_path("mobilefacenet"): MOBILEFACENET.read_bytes()}
    manifest = {}
    if lfw_people:
        archive = lfw_archive(lfw_people)
        files[mirror_path("lfw")] = archive
        manifest["lfw"] = {"sha256": hashlib.sha256(archive).hexdigest(), "bytes": len(archive)}
    return files, manifest


__all__ = ["Mirror", "Path", "lfw_archive", "mirror_path", "real_files"]

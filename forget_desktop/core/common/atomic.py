"""Write files so a crash or a full disk never leaves a half-written file under the real name."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import ForgetError


class AlreadyThere(ForgetError):
    """An exclusive write found a file with its name already (nothing was written)."""


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", exclusive: bool = False, durable: bool = True
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success flush, fsync and rename it over ``path``
    (with ``exclusive``, link it to ``path`` only if no file has that name: nothing is ever replaced).
    ``durable=False`` skips the fsyncs, for derived files a reader checks and can make again (the
    cache): never half-written under the real name while the system runs, but not kept through a
    power cut.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(tmp_name, target)
            except FileExistsError:
                raise AlreadyThere(f"{target.name} already exists and was not replaced; nothing was changed.") from None
            os.unlink(tmp_name)
        else:
            os.replace(tmp_name, target)
        if durable:
            _fsync_dir(target.parent)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(error, OSError) and error.errno == 28:  # ENOSPC
            raise ForgetError(f"The disk is full: {target.name} was not saved and nothing was changed.") from error
        raise


def _fsync_dir(directory: Path) -> None:
    if os.name == "posix":
        with contextlib.suppress(OSError):
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes, exclusive: bool = False) -> None:
    """Atomically write ``data`` to ``path`` (``exclusive``: only as a new file)."""
    with atomic_write(path, "wb", exclusive) as handle:
        handle.write(data)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Atomically write ``value`` as indented JSON."""
    with atomic_write(path, "w") as handle:
        json.dump(value, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clean_stale_temporaries(folder: str | os.PathLike, older_than: float = 3600.0) -> int:
    """Remove temporary files that a killed process left beside its target; returns how many.

    Only files named like ``atomic_write``'s (``.<name>.<random>.tmp`` / ``.part``) and untouched for
    ``older_than`` seconds are removed, so a save in progress elsewhere is never disturbed.
    """
    import time

    removed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than
    for candidate in folder.rglob(".*"):
        if candidate.suffix in (".tmp", ".part") and candidate.is_file():
            try:
                if candidate.stat().st_mtime < cutoff:
                    candidate.unlink()
                    removed += 1
            except OSError:
                continue
    return removed

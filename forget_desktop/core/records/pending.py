"""File actions a committed change still owes: finishing a model file, deleting what was erased.

A change records them inside its transaction; they are carried out right after the commit, and again
at every start until each is done, so a kill between two deletions never leaves erasure half-done.
A model file is saved first as ``<name>.uncommitted``: the commit owes its rename, and a file left so
without a recorded rename belongs to a change that never committed, and is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections import Counter
from pathlib import Path

from ..common.atomic import sha256_file
from ..common.crash import crash_point
from ..common.errors import ForgetError
from ..model.checkpoint import now_iso
from .db import Database
from .versions import UNCOMMITTED


def uncommitted(path: Path) -> Path:
    """Where a model file waits until the change that lists it commits."""
    return path.with_name(path.name + UNCOMMITTED)


class PendingFiles:
    """The ``pending_files`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def finish(self, path: Path, sha256: str, request_id: int | None = None) -> None:
        """Owe the rename of ``path``'s uncommitted file to ``path`` (inside the caller's transaction)."""
        self.db.execute(
            "INSERT INTO pending_files(request_id, action, what, path, sha256, created) "
            "VALUES (?, 'finish', 'model', ?, ?, ?)",
            (request_id, str(path), sha256, now_iso()),
        )

    def delete(self, paths: list[tuple[str, Path]], request_id: int | None = None) -> None:
        """Owe the deletion of each (what, path) (inside the caller's transaction)."""
        when = now_iso()
        with self.db.transaction() as db:
            db.executemany(
                "INSERT INTO pending_files(request_id, action, what, path, created) VALUES (?, 'delete', ?, ?, ?)",
                [(request_id, what, str(path), when) for what, path in paths],
            )

    def owed(self) -> list:
        return self.db.query("SELECT * FROM pending_files WHERE done IS NULL ORDER BY id")

    def carry_out(self) -> Counter:
        """Do every owed action (oldest first); returns how many of each kind were done now.
        A file that cannot be deleted stays owed, and one sentence says so."""
        done, failed = Counter(), []
        for row in self.owed():
            path = Path(row["path"])
            try:
                if row["action"] == "finish":
                    waiting = uncommitted(path)
                    if waiting.exists():
                        if row["sha256"] and sha256_file(waiting) != row["sha256"]:
                            raise ForgetError(f"{waiting.name} is not the model file the records list.")
                        os.replace(waiting, path)
                elif path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
            except OSError as error:
                failed.append(f"{path} ({error.strerror or error})")
                continue
            # once done, a deletion keeps no path: a photo's path names its person
            kept = (
                row["path"]
                if row["action"] == "finish"
                else "sha256:" + hashlib.sha256(row["path"].encode()).hexdigest()
            )
            self.db.execute("UPDATE pending_files SET done = ?, path = ? WHERE id = ?", (now_iso(), kept, row["id"]))
            done[row["what"]] += 1
            crash_point(f"pending:{row['what']}-done")
        if failed:
            raise ForgetError(
                f"{len(failed)} file(s) could not be deleted yet and will be tried again at the next start: "
                f"{failed[0]}."
            )
        return done

    def done_counts(self, request_id: int) -> Counter:
        rows = self.db.query(
            "SELECT what, COUNT(*) AS n FROM pending_files WHERE request_id = ? AND done IS NOT NULL GROUP BY what",
            (request_id,),
        )
        return Counter({r["what"]: r["n"] for r in rows})

    def owed_counts(self, request_id: int) -> Counter:
        rows = self.db.query(
            "SELECT what, COUNT(*) AS n FROM pending_files WHERE request_id = ? AND done IS NULL GROUP BY what",
            (request_id,),
        )
        return Counter({r["what"]: r["n"] for r in rows})

    def roll_back_uncommitted(self, folder: Path) -> int:
        """Remove model files under ``folder`` saved for a change that never committed."""
        owed = {Path(r["path"]) for r in self.owed() if r["action"] == "finish"}
        removed = 0
        for candidate in folder.rglob("*" + UNCOMMITTED) if folder.is_dir() else []:
            final = candidate.with_name(candidate.name[: -len(UNCOMMITTED)])
            if final not in owed:
                with contextlib.suppress(OSError):
                    candidate.unlink()
                    removed += 1
        return removed

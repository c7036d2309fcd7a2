"""The records: one SQLite database holding what the app must remember about people and models —
forget requests and their photos' content hashes, the versions of each model, the model in use, every
model file seen, file actions still owed, and the hash-chained audit log.

Every entry point opens the same records (the window, ``unlearn``, ``predict``, ``train_face.py``):
by default ``records.db`` in the app's data folder; ``$FORGET_RECORDS`` or a ``--records`` option
names another file. Opening them finishes what a killed process left owed (see ``pending``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..common.atomic import clean_stale_temporaries
from ..common.errors import ForgetError
from ..common.paths import data_dir
from .audit import AuditLog
from .db import Database
from .migrate import migrate_json_records
from .models_seen import ModelRegistry
from .pending import PendingFiles
from .requests import ForgetRequests
from .versions import VersionStore


def records_path(path: str | os.PathLike | None = None) -> Path:
    """The records file: ``path``, else ``$FORGET_RECORDS``, else ``records.db`` in the app's data folder."""
    return Path(path or os.environ.get("FORGET_RECORDS") or data_dir() / "records.db").expanduser()


class Records:
    """The database and the views of it each concern uses."""

    def __init__(self, path: str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None) -> None:
        self.path = records_path(path)
        self.models_dir = Path(models_dir or self.path.parent / "models")
        self.db = Database(self.path)
        self.audit = AuditLog(self.db, self.db.setting("hash_names") == "1")
        self.versions = VersionStore(self.db, self.models_dir)
        self.seen = ModelRegistry(self.db, self.audit.hashed)
        self.requests = ForgetRequests(self.db, self.audit)
        self.files = PendingFiles(self.db)
        migrate_json_records(self.audit, self.path.parent, self.models_dir)
        self.recovery_problem = self.recover()

    @property
    def hash_names(self) -> bool:
        return self.audit.hash_names

    @hash_names.setter
    def hash_names(self, value: bool) -> None:
        """Write salted hashes instead of names from now on (kept in the records for every entry point)."""
        self.audit.hash_names = bool(value)
        self.db.set_setting("hash_names", "1" if value else "0")

    def transaction(self):
        return self.db.transaction()

    def recover(self) -> str:
        """Finish what a killed process owed (renames, deletions) and remove what it never committed;
        returns one sentence if something could not be finished yet."""
        with contextlib.suppress(OSError):
            clean_stale_temporaries(self.models_dir)
        try:
            self.files.carry_out()
        except ForgetError as error:
            return str(error)
        self.files.roll_back_uncommitted(self.models_dir)
        return ""

    def finish_owed(self) -> None:
        """Carry out the file actions a commit owes; one that fails stays owed, is retried at the next
        start, and its sentence is kept in ``recovery_problem`` (the change is committed either way)."""
        try:
            self.files.carry_out()
        except ForgetError as error:
            self.recovery_problem = str(error)

    # --- the model in use --------------------------------------------------------------------
    def in_use(self) -> dict:
        """What the last session used: ``{"model": path, "model_sha256": …, "gallery": path}`` (any may be None)."""
        rows = self.db.query("SELECT model, model_sha256, gallery FROM in_use WHERE one = 1")
        return dict(rows[0]) if rows else {}

    def set_in_use(self, model: Path | None, sha256: str | None, gallery: Path | None) -> None:
        self.db.execute(
            "INSERT INTO in_use(one, model, model_sha256, gallery) VALUES (1, ?, ?, ?) ON CONFLICT(one) DO UPDATE "
            "SET model = excluded.model, model_sha256 = excluded.model_sha256, gallery = excluded.gallery",
            (str(model) if model else None, sha256, str(gallery) if gallery else None),
        )

    def set_gallery_in_use(self, gallery: Path | None) -> None:
        """The folder of people in use (the model in use stays as it is)."""
        self.db.execute(
            "INSERT INTO in_use(one, gallery) VALUES (1, ?) ON CONFLICT(one) DO UPDATE SET gallery = excluded.gallery",
            (str(gallery) if gallery else None,),
        )

    def close(self) -> None:
        self.db.close()

"""The records' one SQLite database: schema, connections and transactions.

WAL mode and foreign keys on; one connection per thread (the ML thread writes, the window may read);
``transaction()`` is ``BEGIN IMMEDIATE`` … ``COMMIT``, so each state change is all or nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from ..common.errors import ForgetError

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    line TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('people', 'photos')),
    method TEXT,
    model_before_sha256 TEXT,
    model_after_sha256 TEXT,
    identical_to_reference INTEGER,
    report TEXT,
    audit_seq INTEGER REFERENCES audit(seq)
);
CREATE TABLE IF NOT EXISTS forgotten_people (
    request_id INTEGER NOT NULL REFERENCES requests(id),
    identity TEXT NOT NULL,
    name_hash TEXT NOT NULL,
    reincluded TEXT,
    PRIMARY KEY (request_id, name_hash)
);
CREATE TABLE IF NOT EXISTS forgotten_photos (
    request_id INTEGER NOT NULL REFERENCES requests(id),
    sha256 TEXT NOT NULL,
    name_hash TEXT NOT NULL,
    PRIMARY KEY (request_id, sha256)
);
CREATE INDEX IF NOT EXISTS forgotten_photos_sha ON forgotten_photos(sha256);
CREATE TABLE IF NOT EXISTS versions (
    root_sha256 TEXT NOT NULL,
    id INTEGER NOT NULL,
    root_path TEXT NOT NULL,
    root_name TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    method TEXT,
    forgotten TEXT NOT NULL DEFAULT '[]',
    created TEXT NOT NULL,
    deleted TEXT,
    metrics TEXT NOT NULL DEFAULT '{}',
    request_id INTEGER REFERENCES requests(id),
    PRIMARY KEY (root_sha256, id)
);
CREATE TABLE IF NOT EXISTS in_use (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    model TEXT,
    model_sha256 TEXT,
    gallery TEXT
);
CREATE TABLE IF NOT EXISTS models_seen (
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    how TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (sha256, path)
);
CREATE TABLE IF NOT EXISTS model_knows (
    sha256 TEXT NOT NULL,
    name_hash TEXT NOT NULL,
    PRIMARY KEY (sha256, name_hash)
);
CREATE TABLE IF NOT EXISTS pending_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER REFERENCES requests(id),
    action TEXT NOT NULL CHECK (action IN ('finish', 'delete')),
    what TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT,
    created TEXT NOT NULL,
    done TEXT
);
CREATE TABLE IF NOT EXISTS kept_photos (
    sha256 TEXT PRIMARY KEY,
    time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS moved_photos (
    sha256 TEXT PRIMARY KEY,
    request_id INTEGER REFERENCES requests(id),
    to_name_hash TEXT NOT NULL,
    time TEXT NOT NULL
);
"""


class Database:
    """One SQLite file; a connection per thread; re-entrant transactions."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.connection.executescript(SCHEMA)  # every statement is idempotent
            with self.transaction() as db:
                db.execute("INSERT OR IGNORE INTO settings(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        except (OSError, sqlite3.Error) as error:
            raise ForgetError(f"The records at {self.path} cannot be opened ({error}).") from None
        version = int(self.setting("schema") or 0)
        if version > SCHEMA_VERSION:
            raise ForgetError(f"The records at {self.path} were written by a newer version of this app; update it.")

    @property
    def connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA secure_delete=ON")  # a deleted or rewritten row leaves no old bytes behind
            self._local.db, self._local.depth = db, 0
        return db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside commit together, or none does (nested blocks join the outer one)."""
        db = self.connection
        if self._local.depth:
            self._local.depth += 1
            try:
                yield db
            finally:
                self._local.depth -= 1
            return
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise ForgetError(f"The records are busy or cannot be written ({error}); nothing was changed.") from None
        self._local.depth = 1
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as error:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise ForgetError(f"The records could not be written ({error}); nothing was changed.") from None
            raise
        finally:
            self._local.depth = 0

    @property
    def in_transaction(self) -> bool:
        return bool(getattr(self._local, "depth", 0))

    def query(self, sql: str, parameters=()) -> list[sqlite3.Row]:
        try:
            return self.connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise ForgetError(f"The records could not be read ({error}).") from None

    def execute(self, sql: str, parameters=()) -> sqlite3.Cursor:
        """One write; inside the current transaction, or in one of its own."""
        with self.transaction() as db:
            return db.execute(sql, parameters)

    def setting(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_setting(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

"""Every model file the app has trained, opened or written, by content hash, and whom it still knows.

"Models that still know them" searches this, not just one model's versions: a copy of the original
elsewhere, or a sibling version, is found as long as the app has seen it. People are recorded by salted
hash only, so these records name no one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..common.atomic import sha256_file
from ..model.checkpoint import Checkpoint, now_iso
from .db import Database

HASH_PREFIX = "sha256:"


@dataclass(frozen=True)
class SeenModel:
    """A model file the app has seen, where it was, and the (hashed) people it knows."""

    sha256: str
    path: Path
    knows: tuple[str, ...]
    how: str  # "trained", "opened" or "written"
    last_seen: str


def known_people(checkpoint: Checkpoint) -> list[str]:
    """The classes a model still names (older files kept forgotten people as empty slots)."""
    gone = set(checkpoint.meta.get("forgotten") or [])
    return [c for c in checkpoint.classes if c not in gone]


class ModelRegistry:
    """The ``models_seen`` and ``model_knows`` tables."""

    def __init__(self, db: Database, hashed: Callable[[str], str]) -> None:
        self.db, self.hashed = db, hashed

    def person_hash(self, name: str) -> str:
        """A class as the records know it: its salted hash (a class already stored hashed stays)."""
        return name if name.startswith(HASH_PREFIX) else self.hashed(name)

    def record(self, checkpoint: Checkpoint, how: str, sha256: str | None = None, path: Path | None = None) -> str:
        """Remember this model file (its hash, path and whom it knows); returns its sha256."""
        path = Path(path or checkpoint.path).resolve()
        digest = sha256 or sha256_file(path)
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO models_seen(sha256, path, how, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(sha256, path) DO UPDATE SET last_seen = excluded.last_seen",
                (digest, str(path), how, now_iso()),
            )
            db.executemany(
                "INSERT OR IGNORE INTO model_knows(sha256, name_hash) VALUES (?, ?)",
                [(digest, self.person_hash(n)) for n in known_people(checkpoint)],
            )
        return digest

    def knows(self, sha256: str) -> set[str]:
        return {r[0] for r in self.db.query("SELECT name_hash FROM model_knows WHERE sha256 = ?", (sha256,))}

    def knowing(self, names: list[str]) -> list[SeenModel]:
        """Model files, still on disk with the same content, that know any of these people."""
        wanted = {self.person_hash(n) for n in names}
        found = []
        for row in self.db.query("SELECT * FROM models_seen ORDER BY path"):
            knows = self.knows(row["sha256"])
            if not wanted & knows:
                continue
            path = Path(row["path"])
            try:
                if path.is_file() and sha256_file(path) == row["sha256"]:
                    found.append(SeenModel(row["sha256"], path, tuple(sorted(knows)), row["how"], row["last_seen"]))
            except OSError:
                continue
        return found

"""Model versions: the unlearned (or enrolled) descendants of one original model, kept in one folder.

The records list every version ever made of an original, deleted ones included, so a version id is
never given out twice; a version file is written under a new name and never replaces an existing
file. File names carry only the id (``v0003.ckpt``): no person's name ends up on disk through them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..common.atomic import sha256_file
from ..model.checkpoint import Checkpoint
from .db import Database

UNCOMMITTED = ".uncommitted"  # a model file saved before the change that lists it was committed


@dataclass(frozen=True)
class Version:
    """One model in the versions list (id 0 is the original)."""

    id: int
    path: Path
    title: str
    detail: str
    method: str | None = None
    forgotten: tuple[str, ...] = ()  # everyone this version has forgotten (names, or hashes)
    sha256: str = ""
    created: str = ""
    metrics: dict = field(default_factory=dict)
    request_id: int | None = None

    def with_request(self, request_id: int | None) -> Version:
        return dataclasses.replace(self, request_id=request_id)


def root_of(checkpoint: Checkpoint) -> dict:
    """The original model a line of versions descends from (recorded in each descendant)."""
    root = checkpoint.meta.get("root")
    if root:
        return root
    path = checkpoint.path
    return {
        "path": str(path.resolve()) if path else "",
        "name": path.stem if path else "model",
        "sha256": sha256_file(path) if path else "0" * 64,
    }


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


class VersionStore:
    """The folders of versions under ``models_dir`` (one per original model), listed in the records."""

    def __init__(self, db: Database, models_dir: Path) -> None:
        self.db, self.models_dir = db, Path(models_dir)

    def folder(self, root: dict) -> Path:
        return self.models_dir / f"{slug(root['name'])}-{root['sha256'][:10]}"

    def reserve(self, root: dict) -> tuple[int, Path]:
        """A version id never used for this original, and the checkpoint path it will have."""
        folder = self.folder(root)
        used = [r[0] for r in self.db.query("SELECT id FROM versions WHERE root_sha256 = ?", (root["sha256"],))]
        on_disk = folder.glob("v*.ckpt*") if folder.is_dir() else []
        used += [int(m.group(1)) for p in on_disk if (m := re.fullmatch(r"v(\d+)\.ckpt(\.uncommitted)?", p.name))]
        number = max(used, default=0) + 1
        return number, folder / f"v{number:04d}.ckpt"

    def record(self, root: dict, version: Version) -> None:
        """List a saved version (inside the caller's transaction)."""
        self.db.execute(
            "INSERT INTO versions(root_sha256, id, root_path, root_name, file, sha256, title, detail, method, "
            "forgotten, created, metrics, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                root["sha256"],
                version.id,
                root.get("path", ""),
                root.get("name", "model"),
                version.path.name,
                version.sha256,
                version.title,
                version.detail,
                version.method,
                json.dumps(list(version.forgotten), ensure_ascii=False),
                version.created,
                json.dumps(version.metrics),
                version.request_id,
            ),
        )

    def mark_deleted(self, root: dict, number: int, when: str) -> None:
        self.db.execute(
            "UPDATE versions SET deleted = ? WHERE root_sha256 = ? AND id = ?", (when, root["sha256"], number)
        )

    def known_files(self) -> set[Path]:
        """Every version file the records list (deleted ones included)."""
        rows = self.db.query("SELECT root_sha256, root_name, file FROM versions")
        return {self.folder({"name": r["root_name"], "sha256": r["root_sha256"]}) / r["file"] for r in rows}

    def versions(self, root: dict, original_metrics: dict | None = None) -> list[Version]:
        """The original and every version whose file is still there, oldest first."""
        listed = []
        original = Path(root["path"]) if root.get("path") else None
        if original is not None and original.is_file():
            listed.append(
                Version(0, original, "Original", original.name, sha256=root["sha256"], metrics=original_metrics or {})
            )
        rows = self.db.query(
            "SELECT * FROM versions WHERE root_sha256 = ? AND deleted IS NULL ORDER BY id", (root["sha256"],)
        )
        for row in rows:
            path = self.folder(root) / row["file"]
            if not path.is_file():
                continue
            listed.append(
                Version(
                    row["id"],
                    path,
                    row["title"],
                    row["detail"],
                    row["method"],
                    tuple(json.loads(row["forgotten"])),
                    row["sha256"],
                    row["created"],
                    json.loads(row["metrics"]),
                    row["request_id"],
                )
            )
        return listed

"""Model versions: the unlearned (or enrolled) descendants of one original model, kept in one folder.

The folder's ledger (``versions.json``) lists every version ever made there, deleted ones included, so
a version id is never given out twice; a version file is written under a new name and never replaces
an existing file. File names carry only the id (``v0003.ckpt``): no person's name ends up on disk
through them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..common.atomic import sha256_file, write_json
from ..common.errors import ForgetError
from ..model.checkpoint import Checkpoint

LEDGER = "versions.json"


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

    @property
    def report_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".report.json")


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
    """The folders of versions under ``models_dir`` (one per original model)."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)

    def folder(self, root: dict) -> Path:
        return self.models_dir / f"{slug(root['name'])}-{root['sha256'][:10]}"

    def _ledger(self, root: dict) -> dict:
        path = self.folder(root) / LEDGER
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"root": root, "versions": []}
        except (OSError, ValueError):
            raise ForgetError(f"The list of model versions in {path.parent} is damaged; nothing was changed.") from None
        return data

    def reserve(self, root: dict) -> tuple[int, Path]:
        """A version id never used in this folder, and the checkpoint path it will have."""
        folder = self.folder(root)
        used = [entry["id"] for entry in self._ledger(root)["versions"]]
        used += [int(m.group(1)) for p in folder.glob("v*.ckpt") if (m := re.fullmatch(r"v(\d+)", p.stem))]
        number = max(used, default=0) + 1
        return number, folder / f"v{number:04d}.ckpt"

    def record(self, root: dict, entry: dict) -> None:
        """Add a saved version to the ledger (written atomically)."""
        ledger = self._ledger(root)
        if any(e["id"] == entry["id"] for e in ledger["versions"]):
            raise ForgetError(f"Version {entry['id']} already exists; nothing was changed.")
        ledger["versions"].append(entry)
        write_json(self.folder(root) / LEDGER, ledger)

    def forget_record(self, root: dict, number: int) -> None:
        """Take a version out of the ledger again (its save is being undone: it was never shown)."""
        ledger = self._ledger(root)
        ledger["versions"] = [e for e in ledger["versions"] if e["id"] != number]
        if ledger["versions"]:
            write_json(self.folder(root) / LEDGER, ledger)
        else:
            (self.folder(root) / LEDGER).unlink(missing_ok=True)

    def mark_deleted(self, root: dict, number: int, when: str) -> None:
        ledger = self._ledger(root)
        for entry in ledger["versions"]:
            if entry["id"] == number:
                entry["deleted"] = when
        write_json(self.folder(root) / LEDGER, ledger)

    def versions(self, root: dict, original_metrics: dict | None = None) -> list[Version]:
        """The original and every version whose file is still there, oldest first."""
        listed = []
        original = Path(root["path"]) if root.get("path") else None
        if original is not None and original.is_file():
            listed.append(
                Version(0, original, "Original", original.name, sha256=root["sha256"], metrics=original_metrics or {})
            )
        for entry in self._ledger(root)["versions"]:
            path = self.folder(root) / entry["file"]
            if entry.get("deleted") or not path.is_file():
                continue
            listed.append(
                Version(
                    entry["id"],
                    path,
                    entry["title"],
                    entry["detail"],
                    entry.get("method"),
                    tuple(entry.get("forgotten", ())),
                    entry.get("sha256", ""),
                    entry.get("created", ""),
                    entry.get("metrics", {}),
                )
            )
        return listed

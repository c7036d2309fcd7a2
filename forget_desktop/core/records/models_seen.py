"""Every model file the app has trained, opened or written, by content hash, and whom it still knows.

"Models that still know them" searches this, not just one model's versions: a copy of the original
elsewhere, or a sibling version, is found as long as the app has seen it. People are recorded by salted
hash only, so the registry itself names no one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..common.atomic import sha256_file, write_json
from ..model.checkpoint import Checkpoint, now_iso


@dataclass(frozen=True)
class SeenModel:
    """A model file the app has seen, where it was, and the (hashed) people it knows."""

    sha256: str
    path: Path
    knows: tuple[str, ...]
    how: str  # "trained", "opened" or "written"
    last_seen: str


class ModelRegistry:
    """``models-seen.json`` in the app's data folder."""

    def __init__(self, path: Path, hashed: Callable[[str], str]) -> None:
        self.path, self.hashed = Path(path), hashed

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def record(self, checkpoint: Checkpoint, how: str, sha256: str | None = None) -> None:
        """Remember this model file (its hash, path and who it knows)."""
        if checkpoint.path is None:
            return
        data = self._load()
        digest = sha256 or sha256_file(checkpoint.path)
        forgotten = set(checkpoint.meta.get("forgotten") or [])
        entry = data.setdefault(digest, {"paths": [], "how": how})
        path = str(Path(checkpoint.path).resolve())
        if path not in entry["paths"]:
            entry["paths"].append(path)
        entry["knows"] = sorted(self.hashed(n) for n in checkpoint.classes if n not in forgotten)
        entry["last_seen"] = now_iso()
        write_json(self.path, data)

    def knowing(self, names: list[str]) -> list[SeenModel]:
        """Model files, still on disk with the same content, that know any of these people."""
        wanted = {self.hashed(n) for n in names}
        found = []
        for digest, entry in self._load().items():
            if not wanted & set(entry.get("knows", [])):
                continue
            for path in map(Path, entry.get("paths", [])):
                try:
                    if path.is_file() and sha256_file(path) == digest:
                        found.append(
                            SeenModel(
                                digest, path, tuple(entry["knows"]), entry.get("how", ""), entry.get("last_seen", "")
                            )
                        )
                except OSError:
                    continue
        return sorted(found, key=lambda m: str(m.path))

"""The audit log: append-only JSON lines, one per forget request (and per later erasure).

Each line holds the time, who (names, or salted hashes when the user chooses), the method and its
options, key metrics, the sha256 of the model before and after, and what was erased — never images.
Each entry also carries the sha256 of the previous line, so an edited or removed line is detectable.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .atomic import write_bytes
from .checkpoint import now_iso
from .errors import ForgetError
from .paths import data_dir

KEY_METRICS = ("forget_train_acc", "forget_test_acc", "retain_test_acc", "mia_auc", "probe_acc")


@dataclass
class AuditLog:
    """``data_dir()/audit.jsonl`` by default; ``hash_names`` stores salted hashes instead of names."""

    path: Path
    hash_names: bool = False

    @classmethod
    def default(cls, hash_names: bool = False) -> "AuditLog":
        return cls(data_dir() / "audit.jsonl", hash_names)

    def _salt(self) -> bytes:
        salt_file = self.path.with_name("audit-salt")
        if not salt_file.exists():
            write_bytes(salt_file, secrets.token_bytes(32))
        return salt_file.read_bytes()

    def identity(self, name: str) -> str:
        if not self.hash_names:
            return name
        return "sha256:" + hashlib.sha256(self._salt() + name.encode("utf-8")).hexdigest()[:24]

    def append(self, entry: dict) -> dict:
        """Write one line (flushed and fsynced); returns the entry as written."""
        lines = self._raw_lines()
        previous = hashlib.sha256(lines[-1]).hexdigest() if lines else None
        record = {"time": now_iso(), **entry, "previous_sha256": previous}
        data = (json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if lines and not self.path.read_bytes().endswith(b"\n"):
                    os.write(fd, b"\n")  # a line cut short by a crash stays separate and is reported
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            raise ForgetError(f"The audit log could not be written ({error.strerror or error}).") from None
        return record

    def _raw_lines(self) -> list[bytes]:
        try:
            return [line for line in self.path.read_bytes().split(b"\n") if line.strip()]
        except FileNotFoundError:
            return []

    def entries(self) -> tuple[list[dict], list[str]]:
        """The readable entries and one sentence per problem (damaged line, broken chain)."""
        records, problems, previous = [], [], None
        for number, line in enumerate(self._raw_lines(), start=1):
            try:
                record = json.loads(line)
            except ValueError:
                problems.append(f"Line {number} of the audit log is damaged and was skipped.")
                previous = hashlib.sha256(line).hexdigest()
                continue
            if record.get("previous_sha256") != previous:
                problems.append(f"Line {number} of the audit log does not follow the line before it "
                                "(a line was edited or removed).")
            records.append(record)
            previous = hashlib.sha256(line).hexdigest()
        return records, problems

    def forget_entry(self, report: dict, before_sha256: str, after_sha256: str, erased: dict | None) -> dict:
        """The line for one finished forget request."""
        key = {model: {k: report[model][k] for k in KEY_METRICS if report.get(model)}
               for model in ("original", "unlearned", "reference") if report.get(model)}
        return self.append({"event": "forget", "identities": [self.identity(n) for n in report["forget"]],
                            "identities_hashed": self.hash_names, "method": report["method"],
                            "options": report.get("options", {}), "device": report["device"],
                            "seconds": report["seconds"], "reference_seconds": report.get("reference_seconds"),
                            "metrics": key, "model_before_sha256": before_sha256,
                            "model_after_sha256": after_sha256, "erased": erased or {}})

    def export(self, destination: str | os.PathLike) -> Path:
        """Copy the log (as is) to ``destination`` atomically."""
        write_bytes(destination, self.path.read_bytes() if self.path.exists() else b"")
        return Path(destination)

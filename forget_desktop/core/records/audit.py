"""The audit log: append-only JSON lines, one per forget request and per later change to what the app
keeps about people (enrolment, erased photos, deleted versions).

Each line holds the time, who (names, or salted hashes when the user chooses), what was done and the
sha256 of the models before and after — never images. Each line carries the sha256 of the line before
it, and the log's *head* (its line count and the sha256 of its last line) is kept in a second file:
an edited, removed or cut-off line — the last one included — is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..common.atomic import write_bytes, write_json
from ..common.errors import ForgetError
from ..model.checkpoint import now_iso

KEY_METRICS = ("forget_train_acc", "forget_test_acc", "retain_test_acc", "mia_auc", "probe_acc", "named_as_other")


@dataclass
class AuditLog:
    """``audit.jsonl`` beside the models folder; ``hash_names`` writes salted hashes instead of names."""

    path: Path
    hash_names: bool = False

    @property
    def head_path(self) -> Path:
        return self.path.with_name(self.path.name + ".head")

    def _salt(self) -> bytes:
        salt_file = self.path.with_name("audit-salt")
        if not salt_file.exists():
            write_bytes(salt_file, secrets.token_bytes(32))
        return salt_file.read_bytes()

    def hashed(self, name: str) -> str:
        """The salted hash of a name (the same on this computer after every restart)."""
        return "sha256:" + hashlib.sha256(self._salt() + name.encode("utf-8")).hexdigest()[:24]

    def identity(self, name: str) -> str:
        """How a person is written: their name, or (``hash_names``) its salted hash."""
        return self.hashed(name) if self.hash_names else name

    def identities(self, names) -> list[str]:
        return [self.identity(name) for name in names]

    def append(self, entry: dict) -> dict:
        """Write one line (flushed and fsynced), then the head; returns the entry as written."""
        lines = self._raw_lines()
        previous = hashlib.sha256(lines[-1]).hexdigest() if lines else None
        record = {"time": now_iso(), **entry, "previous_sha256": previous}
        data = json.dumps(record, ensure_ascii=False, sort_keys=False).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if lines and not self.path.read_bytes().endswith(b"\n"):
                    os.write(fd, b"\n")  # a line cut short by a crash stays separate and is reported
                os.write(fd, data + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            write_json(self.head_path, {"lines": len(lines) + 1, "last_sha256": hashlib.sha256(data).hexdigest()})
        except OSError as error:
            raise ForgetError(f"The audit log could not be written ({error.strerror or error}).") from None
        return record

    def _raw_lines(self) -> list[bytes]:
        try:
            return [line for line in self.path.read_bytes().split(b"\n") if line.strip()]
        except FileNotFoundError:
            return []

    def entries(self) -> tuple[list[dict], list[str]]:
        """The readable entries and one sentence per problem (damaged line, broken chain, cut tail)."""
        records, problems, previous = [], [], None
        lines = self._raw_lines()
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except ValueError:
                problems.append(f"Line {number} of the audit log is damaged and was skipped.")
                previous = hashlib.sha256(line).hexdigest()
                continue
            if record.get("previous_sha256") != previous:
                problems.append(
                    f"Line {number} of the audit log does not follow the line before it (a line was edited or removed)."
                )
            records.append(record)
            previous = hashlib.sha256(line).hexdigest()
        problems += self._head_problems(lines)
        return records, problems

    def _head_problems(self, lines: list[bytes]) -> list[str]:
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            count, last = int(head["lines"]), head["last_sha256"]
        except FileNotFoundError:
            return ["The audit log has lost its record of its last line; its end cannot be checked."] if lines else []
        except (OSError, ValueError, KeyError, TypeError):
            return ["The record of the audit log's last line is damaged; its end cannot be checked."]
        if len(lines) < count:
            missing = count - len(lines)
            return [
                "The audit log is shorter than it was: its last line was removed."
                if missing == 1
                else f"The audit log is shorter than it was: its last {missing} lines were removed."
            ]
        if len(lines) > count:
            return [f"The audit log has {len(lines) - count} more line(s) than the app wrote."]
        if lines and hashlib.sha256(lines[-1]).hexdigest() != last:
            return ["The last line of the audit log was edited."]
        return []

    def forget_entry(self, report: dict, before_sha256: str, after_sha256: str, erased: dict | None) -> dict:
        """The line for one finished forget request."""
        key = {
            model: {k: report[model][k] for k in KEY_METRICS if report.get(model)}
            for model in ("original", "unlearned", "reference")
            if report.get(model)
        }
        return self.append(
            {
                "event": "forget",
                "identities": self.identities(report["forget"]),
                "identities_hashed": self.hash_names,
                "method": report["method"],
                "exact": report.get("exact"),
                "identical_to_reference": report.get("identical_to_reference"),
                "options": report.get("options", {}),
                "device": report["device"],
                "seconds": report["seconds"],
                "reference_seconds": report.get("reference_seconds"),
                "metrics": key,
                "model_before_sha256": before_sha256,
                "model_after_sha256": after_sha256,
                "erased": erased or {},
            }
        )

    def forgotten(self) -> dict[str, str]:
        """Everyone a forget line names: identity as written (name or hash) -> time of the request."""
        result = {}
        for entry in self.entries()[0]:
            if entry.get("event") == "forget":
                for identity in entry.get("identities", []):
                    result.setdefault(identity, entry.get("time", ""))
        return result

    def export(self, destination: str | os.PathLike) -> Path:
        """Copy the log (as is) to ``destination`` atomically."""
        write_bytes(destination, self.path.read_bytes() if self.path.exists() else b"")
        return Path(destination)

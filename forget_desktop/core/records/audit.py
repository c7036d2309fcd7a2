"""The audit log: one event per change to what the app keeps about people — forget requests,
training, enrolment, switching the model in use, erased photos, deleted models, people let back in.

Events live in the records database (table ``audit``), each written in the same transaction as the
change it describes. Each line holds the time, who (names, or salted hashes when the user chooses),
what was done and the sha256 of the models before and after — never images — and the sha256 of the
line before it. The log's *head* (line count and last line's sha256) is kept in the same transaction:
an edited, removed or cut-off line, the last one included, is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from ..common.atomic import write_bytes
from ..common.errors import ForgetError
from ..model.checkpoint import now_iso
from .db import Database


def line_sha256(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


class AuditLog:
    """The hash-chained event log in the records; ``hash_names`` writes salted hashes instead of names."""

    def __init__(self, db: Database, hash_names: bool = False) -> None:
        self.db, self.hash_names = db, hash_names

    # --- names ---------------------------------------------------------------------------------
    def _salt(self) -> bytes:
        salt = self.db.setting("salt")
        if salt is None:
            self.db.execute("INSERT OR IGNORE INTO settings(key, value) VALUES ('salt', ?)", (secrets.token_hex(32),))
            salt = self.db.setting("salt")
        return bytes.fromhex(salt)

    def hashed(self, name: str) -> str:
        """The salted hash of a name (the same for these records after every restart)."""
        return "sha256:" + hashlib.sha256(self._salt() + name.encode("utf-8")).hexdigest()[:24]

    def identity(self, name: str) -> str:
        """How a person is written: their name, or (``hash_names``) its salted hash."""
        return self.hashed(name) if self.hash_names else name

    def identities(self, names) -> list[str]:
        return [self.identity(name) for name in names]

    # --- writing -------------------------------------------------------------------------------
    def append(self, entry: dict) -> dict:
        """Add one event (inside the caller's transaction when there is one); returns it as written,
        with its sequence number under ``seq``."""
        with self.db.transaction() as db:
            last = db.execute("SELECT seq, sha256 FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            record = {"time": now_iso(), **entry, "previous_sha256": last["sha256"] if last else None}
            line = json.dumps(record, ensure_ascii=False)
            digest = line_sha256(line)
            seq = db.execute("INSERT INTO audit(line, sha256) VALUES (?, ?)", (line, digest)).lastrowid
            count = db.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
            head = json.dumps({"lines": count, "last_sha256": digest})
            db.execute(
                "INSERT INTO settings(key, value) VALUES ('audit_head', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (head,),
            )
        return {**record, "seq": seq}

    # --- reading -------------------------------------------------------------------------------
    def lines(self) -> list[tuple[int, str, str]]:
        """(seq, line, stored sha256) of every event, oldest first."""
        return [
            (r["seq"], r["line"], r["sha256"])
            for r in self.db.query("SELECT seq, line, sha256 FROM audit ORDER BY seq")
        ]

    def entries(self) -> tuple[list[dict], list[str]]:
        """The readable events and one sentence per problem (damaged line, broken chain, cut tail)."""
        records, problems, previous = [], [], None
        rows = self.lines()
        for number, (seq, line, stored) in enumerate(rows, start=1):
            digest = line_sha256(line)
            try:
                record = json.loads(line)
            except ValueError:
                problems.append(f"Line {number} of the audit log is damaged and was skipped.")
                previous = digest
                continue
            if digest != stored:
                problems.append(f"Line {number} of the audit log was edited after it was written.")
            if record.get("previous_sha256") != previous:
                problems.append(
                    f"Line {number} of the audit log does not follow the line before it (a line was edited or removed)."
                )
            records.append({**record, "seq": seq})
            previous = digest
        problems += self._head_problems(rows)
        return records, problems

    def _head_problems(self, rows) -> list[str]:
        text = self.db.setting("audit_head")
        if text is None:
            return ["The audit log has lost its record of its last line; its end cannot be checked."] if rows else []
        try:
            head = json.loads(text)
            count, last = int(head["lines"]), head["last_sha256"]
        except (ValueError, KeyError, TypeError):
            return ["The record of the audit log's last line is damaged; its end cannot be checked."]
        if len(rows) < count:
            missing = count - len(rows)
            return [
                "The audit log is shorter than it was: its last line was removed."
                if missing == 1
                else f"The audit log is shorter than it was: its last {missing} lines were removed."
            ]
        if len(rows) > count:
            return [f"The audit log has {len(rows) - count} more line(s) than the app wrote."]
        if rows and line_sha256(rows[-1][1]) != last:
            return ["The last line of the audit log was edited."]
        return []

    def head(self) -> dict:
        """The chain's head: how many lines and the sha256 of the last (what a certificate quotes)."""
        rows = self.lines()
        return {"lines": len(rows), "last_sha256": line_sha256(rows[-1][1]) if rows else None}

    def export(self, destination: str | os.PathLike) -> Path:
        """The log as JSON lines (each line exactly as hashed, so anyone can check the chain)."""
        data = "".join(line + "\n" for _, line, _ in self.lines()).encode("utf-8")
        try:
            write_bytes(destination, data)
        except OSError as error:
            raise ForgetError(f"The audit log could not be exported to {destination} ({error.strerror}).") from None
        return Path(destination)

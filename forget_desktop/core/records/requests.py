"""Forget requests: who was forgotten, when, how, and the content hashes of their photos.

Only the records name forgotten people (or, in hashed-names mode, hold only salted hashes); the
models and the cache do not. ``exclusion()`` is what every door that could learn someone again —
training, enrolment, opening a model, the cache — checks against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..common.errors import ForgetError
from ..data.dataset import Exclusion
from ..unlearning.report import Erased, ForgetReport
from .audit import AuditLog
from .db import Database


@dataclass(frozen=True)
class ForgottenPerson:
    """One person a request forgot (still forgotten unless ``reincluded``)."""

    identity: str  # the name, or its salted hash in hashed-names mode
    name_hash: str
    request_id: int
    time: str
    reincluded: str | None = None


@dataclass(frozen=True)
class ForgetRequest:
    """A request as the history, the ``forgotten`` command and the certificate show it."""

    id: int
    time: str
    scope: str
    people: tuple[str, ...]
    method: str | None
    model_before_sha256: str | None
    model_after_sha256: str | None
    identical_to_reference: bool | None
    photos_suppressed: int
    erased: Erased
    erasure_owed: int
    report: ForgetReport | None
    reincluded: tuple[str, ...] = ()
    model_path: str | None = None  # where the app wrote (or last saw) the model the request made

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "time": self.time,
            "scope": self.scope,
            "people": list(self.people),
            "method": self.method,
            "model_before_sha256": self.model_before_sha256,
            "model_after_sha256": self.model_after_sha256,
            "identical_to_reference": self.identical_to_reference,
            "photos_suppressed": self.photos_suppressed,
            "crops_erased": self.erased.cached_crops,
            "embeddings_erased": self.erased.cached_embeddings,
            "photos_erased": self.erased.photos,
            "erasure_owed": self.erasure_owed,
            "reincluded": list(self.reincluded),
        }


class ForgetRequests:
    """The ``requests``, ``forgotten_people`` and ``forgotten_photos`` tables."""

    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db, self.audit = db, audit

    def add(
        self,
        report: ForgetReport,
        photos: dict[str, list[str]],
        before_sha256: str | None,
        after_sha256: str | None,
        scope: str = "people",
    ) -> int:
        """Record a finished request (inside the caller's transaction) with its audit line; ``photos``
        maps each forgotten person to the sha256 of their photo files. Returns the request id."""
        names = list(report.forget)
        with self.db.transaction() as db:
            request_id = db.execute(
                "INSERT INTO requests(time, scope, method, model_before_sha256, model_after_sha256, "
                "identical_to_reference) VALUES (?, ?, ?, ?, ?, ?)",
                (report.created, scope, report.method, before_sha256, after_sha256, report.identical_to_reference),
            ).lastrowid
            kept = report.renamed({n: self.audit.identity(n) for n in names}).with_(request_id=request_id)
            for name in names:
                if scope == "people":
                    db.execute(
                        "INSERT INTO forgotten_people(request_id, identity, name_hash) VALUES (?, ?, ?)",
                        (request_id, self.audit.identity(name), self.audit.hashed(name)),
                    )
                db.executemany(
                    "INSERT OR IGNORE INTO forgotten_photos(request_id, sha256, name_hash) VALUES (?, ?, ?)",
                    [(request_id, digest, self.audit.hashed(name)) for digest in photos.get(name, [])],
                )
            entry = self.audit.append(
                {
                    "event": "forget",
                    "request": request_id,
                    "scope": scope,
                    "identities": self.audit.identities(names),
                    "identities_hashed": self.audit.hash_names,
                    "method": report.method,
                    "exact": report.exact,
                    "identical_to_reference": report.identical_to_reference,
                    "options": report.options,
                    "device": report.device,
                    "seconds": report.seconds,
                    "reference_seconds": report.reference_seconds,
                    "metrics": {role: s.key_scores() for role, s in report.scores().items()},
                    "photos_suppressed": sum(len(v) for v in photos.values()),
                    "model_before_sha256": before_sha256,
                    "model_after_sha256": after_sha256,
                }
            )
            db.execute(
                "UPDATE requests SET report = ?, audit_seq = ? WHERE id = ?",
                (json.dumps(kept.to_dict(), ensure_ascii=False), entry["seq"], request_id),
            )
        return request_id

    # --- who is forgotten --------------------------------------------------------------------
    def people(self, active_only: bool = True) -> list[ForgottenPerson]:
        rows = self.db.query(
            "SELECT p.identity, p.name_hash, p.request_id, r.time, p.reincluded FROM forgotten_people p "
            "JOIN requests r ON r.id = p.request_id"
            + (" WHERE p.reincluded IS NULL" if active_only else "")
            + " ORDER BY p.request_id"
        )
        return [
            ForgottenPerson(r["identity"], r["name_hash"], r["request_id"], r["time"], r["reincluded"]) for r in rows
        ]

    def forgotten(self, name: str) -> ForgottenPerson | None:
        """The request that forgot ``name`` (a name or a class stored hashed), if it is still in force."""
        key = name if name.startswith("sha256:") else self.audit.hashed(name)
        return next((p for p in self.people() if p.name_hash == key), None)

    def forgotten_among(self, names: list[str]) -> list[str]:
        return [n for n in names if self.forgotten(n)]

    def exclusion(self, except_names: tuple[str, ...] = ()) -> Exclusion:
        """Everything a door must not learn again: forgotten people and their photos' content hashes
        (``except_names``: people being forgotten again now, whose photos the job must read)."""
        spared = {self.audit.hashed(n) for n in except_names}
        names = frozenset(p.name_hash for p in self.people() if p.name_hash not in spared)
        rows = self.db.query(
            "SELECT f.sha256, f.name_hash FROM forgotten_photos f JOIN requests r ON r.id = f.request_id "
            "WHERE (r.scope = 'photos' AND f.sha256 NOT IN (SELECT sha256 FROM moved_photos)) "
            "OR EXISTS (SELECT 1 FROM forgotten_people p WHERE p.request_id = f.request_id "
            "AND p.name_hash = f.name_hash AND p.reincluded IS NULL)"
        )
        digests = frozenset(r["sha256"] for r in rows if r["name_hash"] not in spared)
        return Exclusion(names, digests, self.audit.hashed)

    def reinclude(self, name: str) -> dict:
        """Let a forgotten person back in (named explicitly by the user): its own audit event."""
        person = self.forgotten(name)
        if person is None:
            raise ForgetError(f"{name.replace('_', ' ')} is not forgotten; there is nothing to let back in.")
        with self.db.transaction() as db:
            entry = self.audit.append(
                {
                    "event": "reinclude",
                    "identities": [self.audit.identity(name)],
                    "identities_hashed": self.audit.hash_names,
                    "requests": [p.request_id for p in self.people() if p.name_hash == person.name_hash],
                }
            )
            db.execute(
                "UPDATE forgotten_people SET reincluded = ? WHERE name_hash = ? AND reincluded IS NULL",
                (entry["time"], person.name_hash),
            )
        return entry

    # --- photos the user chose to keep (the outlier finder no longer lists them) ----------------
    def keep_photos(self, digests: list[str]) -> dict | None:
        """Remember that the user looked at these photos (by sha256) and chose to keep them: an audit line
        with their count. Returns the audit entry (None when all were kept already)."""
        new = sorted(set(digests) - self.kept_photos())
        if not new:
            return None
        with self.db.transaction() as db:
            entry = self.audit.append({"event": "keep-photos", "photos": len(new)})
            db.executemany(
                "INSERT OR IGNORE INTO kept_photos(sha256, time) VALUES (?, ?)", [(d, entry["time"]) for d in new]
            )
        return entry

    def moved_photos(self, digests: list[str], request_id: int, to_name: str) -> dict:
        """Record that photos forgotten from one person (request ``request_id``) were moved into ``to_name``'s
        folder: they belonged to that person all along, so training may learn them again — as that person.
        An audit line of its own."""
        with self.db.transaction() as db:
            entry = self.audit.append(
                {
                    "event": "move-photos",
                    "request": request_id,
                    "photos": len(digests),
                    "to": self.audit.identity(to_name),
                    "identities_hashed": self.audit.hash_names,
                }
            )
            db.executemany(
                "INSERT OR REPLACE INTO moved_photos(sha256, request_id, to_name_hash, time) VALUES (?, ?, ?, ?)",
                [(d, request_id, self.audit.hashed(to_name), entry["time"]) for d in digests],
            )
        return entry

    def kept_photos(self) -> set[str]:
        return {r["sha256"] for r in self.db.query("SELECT sha256 FROM kept_photos")}

    # --- the history -------------------------------------------------------------------------
    def all(self) -> list[ForgetRequest]:
        return [self._request(row) for row in self.db.query("SELECT * FROM requests ORDER BY id")]

    def get(self, request_id: int) -> ForgetRequest:
        rows = self.db.query("SELECT * FROM requests WHERE id = ?", (request_id,))
        if not rows:
            raise ForgetError(f"There is no forget request {request_id} in these records.")
        return self._request(rows[0])

    def _request(self, row) -> ForgetRequest:
        people = self.db.query(
            "SELECT identity, reincluded FROM forgotten_people WHERE request_id = ? ORDER BY rowid", (row["id"],)
        )
        report = ForgetReport.from_dict(json.loads(row["report"])) if row["report"] else None
        photos = self.db.query("SELECT COUNT(*) FROM forgotten_photos WHERE request_id = ?", (row["id"],))[0][0]
        done = self.db.query(
            "SELECT what, COUNT(*) AS n FROM pending_files WHERE request_id = ? AND action = 'delete' "
            "AND done IS NOT NULL GROUP BY what",
            (row["id"],),
        )
        counts = {r["what"]: r["n"] for r in done}
        owed = self.db.query("SELECT COUNT(*) FROM pending_files WHERE request_id = ? AND done IS NULL", (row["id"],))[
            0
        ][0]
        erased = Erased(counts.get("crop", 0), counts.get("embedding", 0), counts.get("photo", 0))
        if report is not None and report.erased is not None:  # migrated requests counted their own
            erased = erased + report.erased if not counts else erased
        # a photos request forgot no one: its people (whose photos they were) stay in its report only
        names = tuple(p["identity"] for p in people) or (report.forget if report and row["scope"] == "people" else ())
        paths = self.db.query(
            "SELECT path FROM models_seen WHERE sha256 = ? ORDER BY last_seen", (row["model_after_sha256"] or "",)
        )
        return ForgetRequest(
            row["id"],
            row["time"],
            row["scope"],
            names,
            row["method"],
            row["model_before_sha256"],
            row["model_after_sha256"],
            None if row["identical_to_reference"] is None else bool(row["identical_to_reference"]),
            photos,
            erased,
            owed,
            report,
            tuple(p["identity"] for p in people if p["reincluded"]),
            paths[0]["path"] if paths else None,
        )

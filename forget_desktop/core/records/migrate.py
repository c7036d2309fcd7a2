"""Bring the JSON records of earlier versions of the app into the records database, once.

Before the database, the records were separate files beside the models folder: ``audit.jsonl`` (and
its ``.head``), ``audit-salt``, ``in-use.json``, ``models-seen.json`` and one ``versions.json`` per
model folder. All of them are read in one transaction — audit lines byte for byte, so their hash
chain still holds — and then moved, untouched, into ``records-json-migrated/``: nothing is lost, and
a second start finds nothing to migrate.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..common.atomic import sha256_file
from ..model.checkpoint import now_iso
from .audit import AuditLog, line_sha256
from .erasure import person_photos, photo_digests

MIGRATED = "records-json-migrated"


def json_records(home: Path, models_dir: Path) -> list[Path]:
    """The files of the JSON records found in ``home`` and ``models_dir``."""
    names = ("audit.jsonl", "audit.jsonl.head", "audit-salt", "in-use.json", "models-seen.json")
    found = [home / n for n in names if (home / n).is_file()]
    if models_dir.is_dir():
        found += sorted(models_dir.glob("*/versions.json"))
        found += sorted(models_dir.glob("*/v*.report.json"))
    return found


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def migrate_json_records(audit: AuditLog, home: Path, models_dir: Path) -> int:
    """Migrate once (a no-op when there is nothing to migrate or it was done); returns the files read."""
    db = audit.db
    files = json_records(home, models_dir)
    if not files or db.setting("migrated_from_json"):
        return 0
    salt_file, log, head = home / "audit-salt", home / "audit.jsonl", home / "audit.jsonl.head"
    in_use, seen = _read_json(home / "in-use.json", {}), _read_json(home / "models-seen.json", {})
    gallery = Path(in_use["gallery"]) if in_use.get("gallery") else None
    ledgers = [(p.parent, _read_json(p, {})) for p in models_dir.glob("*/versions.json")]
    with db.transaction() as tx:
        if salt_file.is_file():
            tx.execute(
                "INSERT INTO settings(key, value) VALUES ('salt', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (salt_file.read_bytes().hex(),),
            )
        lines = [line for line in log.read_bytes().split(b"\n") if line.strip()] if log.is_file() else []
        seqs = []
        for raw in lines:
            text = raw.decode("utf-8", errors="replace")
            seqs.append(
                tx.execute("INSERT INTO audit(line, sha256) VALUES (?, ?)", (text, line_sha256(text))).lastrowid
            )
        if head.is_file():
            tx.execute("INSERT OR REPLACE INTO settings(key, value) VALUES ('audit_head', ?)", (head.read_text(),))
        reports = {}
        for folder, ledger in ledgers:
            root = ledger.get("root") or {}
            for entry in ledger.get("versions", []):
                report_file = folder / (Path(entry["file"]).stem + ".report.json")
                if entry.get("sha256") and report_file.is_file():
                    reports[entry["sha256"]] = _read_json(report_file, None)
                tx.execute(
                    "INSERT OR IGNORE INTO versions(root_sha256, id, root_path, root_name, file, sha256, title, "
                    "detail, method, forgotten, created, deleted, metrics) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        root.get("sha256", ""),
                        entry["id"],
                        root.get("path", ""),
                        root.get("name", "model"),
                        entry["file"],
                        entry.get("sha256", ""),
                        entry.get("title", ""),
                        entry.get("detail", ""),
                        entry.get("method"),
                        json.dumps(entry.get("forgotten", []), ensure_ascii=False),
                        entry.get("created", ""),
                        entry.get("deleted"),
                        json.dumps(entry.get("metrics", {})),
                    ),
                )
        for raw, seq in zip(lines, seqs):
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if event.get("event") == "forget":
                _migrate_request(audit, tx, event, seq, reports.get(event.get("model_after_sha256")), gallery)
        for digest, entry in seen.items():
            for path in entry.get("paths", []):
                tx.execute(
                    "INSERT OR IGNORE INTO models_seen(sha256, path, how, last_seen) VALUES (?, ?, ?, ?)",
                    (digest, path, entry.get("how", "seen"), entry.get("last_seen", "")),
                )
            tx.executemany(
                "INSERT OR IGNORE INTO model_knows(sha256, name_hash) VALUES (?, ?)",
                [(digest, h) for h in entry.get("knows", [])],
            )
        if in_use.get("model") or in_use.get("gallery"):
            model = in_use.get("model")
            digest = sha256_file(model) if model and Path(model).is_file() else None
            tx.execute(
                "INSERT OR REPLACE INTO in_use(one, model, model_sha256, gallery) VALUES (1, ?, ?, ?)",
                (model, digest, in_use.get("gallery")),
            )
        tx.execute("INSERT INTO settings(key, value) VALUES ('migrated_from_json', ?)", (now_iso(),))
    _set_aside(files, home)
    return len(files)


def _migrate_request(audit: AuditLog, tx, event: dict, seq: int, report: dict | None, gallery: Path | None) -> None:
    """One forget line of the old audit log as a request of the records."""
    identities = list(event.get("identities", []))
    hashed = bool(event.get("identities_hashed"))
    erased = event.get("erased") or {}
    if report is not None:
        report = {**report, "erased": erased, "forget": identities}
    request_id = tx.execute(
        "INSERT INTO requests(time, scope, method, model_before_sha256, model_after_sha256, identical_to_reference, "
        "report, audit_seq) VALUES (?, 'people', ?, ?, ?, ?, ?, ?)",
        (
            event.get("time", ""),
            event.get("method"),
            event.get("model_before_sha256"),
            event.get("model_after_sha256"),
            event.get("identical_to_reference"),
            json.dumps(report, ensure_ascii=False) if report else None,
            seq,
        ),
    ).lastrowid
    for identity in identities:
        name_hash = identity if hashed else audit.hashed(identity)
        tx.execute(
            "INSERT OR IGNORE INTO forgotten_people(request_id, identity, name_hash) VALUES (?, ?, ?)",
            (request_id, identity, name_hash),
        )
        if not hashed:  # the old records kept no photo hashes: take them from the folder, if it is still there
            tx.executemany(
                "INSERT OR IGNORE INTO forgotten_photos(request_id, sha256, name_hash) VALUES (?, ?, ?)",
                [(request_id, d, name_hash) for d in photo_digests(person_photos(gallery, identity))],
            )


def _set_aside(files: list[Path], home: Path) -> None:
    """Move the migrated files, untouched, under ``home/records-json-migrated/`` (same relative paths)."""
    target = home / MIGRATED
    for path in files:
        try:
            relative = path.relative_to(home)
        except ValueError:
            relative = Path(path.parent.name) / path.name
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), destination)

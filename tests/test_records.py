"""One record of truth: the SQLite records stay consistent with the files and the model in use whatever
happens — a process killed between any two steps of a change (really killed, at a named point), a
failure inside the transaction, a partial erasure — and the JSON records of earlier versions are
migrated with nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from conftest import LFW, ROOT
from forget_desktop.core.common.atomic import sha256_file
from forget_desktop.core.common.errors import ForgetError
from forget_desktop.core.faces.crops import CropCache
from forget_desktop.core.records.migrate import MIGRATED
from forget_desktop.core.records.store import Records

CPU = torch.device("cpu")
FIXTURE = Path(__file__).parent / "fixtures" / "records-json-135014c"

CHILD = textwrap.dedent(
    """
    import sys, torch
    from pathlib import Path
    from forget_desktop.core.app.workspace import Workspace
    from forget_desktop.core.faces.crops import CropCache
    home, action = Path(sys.argv[1]), sys.argv[2]
    ws = Workspace(torch.device("cpu"), CropCache(home / "cache"), home / "app" / "models")
    ws.open_model(home / "model.ckpt")
    ws.open_gallery(home / "people")
    if action == "setup":
        ws.score()  # every crop and embedding cached
    elif action == "forget":
        ws.forget(["Tony_Blair"], None, {}, reference=False)
    elif action == "train":
        ws.train("mobilefacenet", None, None)
    elif action == "erase":
        ws.forget(["Tony_Blair"], None, {}, reference=False)
        print("forgotten", flush=True)
        ws.erase_photos(["Tony_Blair"])
    print("done", flush=True)
    """
)


def run_child(home: Path, action: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FORGET_CRASH_AT": crash_at or "", "FORGET_CRASH_LOG": str(home / "crash.log")}
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(home), action], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def whole_state(home: Path) -> dict:
    """Everything that must agree: the records (reopened, so whatever a killed process owed is finished),
    the model files and their hashes, the model in use, the cache, and the folder of people."""
    records = Records(home / "app" / "records.db", home / "app" / "models")
    entries, problems = records.audit.entries()
    db = records.db
    state = {
        "requests": [(r.id, r.people, r.model_after_sha256) for r in records.requests.all()],
        "versions": [(r["id"], r["file"], r["sha256"]) for r in db.query("SELECT * FROM versions ORDER BY id")],
        "in_use": records.in_use(),
        "seen": sorted((r["sha256"], r["path"]) for r in db.query("SELECT sha256, path FROM models_seen")),
        "audit": [e["event"] for e in entries],
        "audit_problems": problems,
        "owed": [(r["action"], r["what"]) for r in records.files.owed()],
        "model_files": sorted(
            (str(p.relative_to(home)), sha256_file(p)) for p in (home / "app" / "models").rglob("*") if p.is_file()
        ),
        "cache": sorted(str(p.relative_to(home)) for p in CropCache(home / "cache").entries()),
        "people": sorted(str(p.relative_to(home)) for p in (home / "people").rglob("*") if p.is_file()),
        "recovery_problem": records.recovery_problem,
    }
    records.close()
    return state


def tony_entries(home: Path) -> list[str]:
    """Cache files made from Tony Blair's photos."""
    digests = {sha256_file(p) for p in (LFW / "Tony_Blair").iterdir()}
    return [str(p) for p in CropCache(home / "cache").entries() if CropCache.digest_of(p) in digests]


@pytest.fixture(scope="module")
def prepared(small_checkpoint, small_gallery, tmp_path_factory) -> Path:
    """A home with the small model in use, its folder open and every crop cached (by a real process)."""
    home = tmp_path_factory.mktemp("prepared")
    shutil.copy(small_checkpoint, home / "model.ckpt")
    shutil.copytree(small_gallery, home / "people")
    result = run_child(home, "setup")
    assert result.returncode == 0, result.stderr
    return home


@pytest.fixture
def home(prepared, tmp_path) -> Path:
    """A copy of the prepared home (its cache makes this quick), set up again in place: the records hold
    absolute paths."""
    home = Path(shutil.copytree(prepared, tmp_path / "home", ignore=shutil.ignore_patterns("app")))
    result = run_child(home, "setup")
    assert result.returncode == 0, result.stderr
    return home


BEFORE_COMMIT = ("forget:model-saved", "forget:before-commit")
AFTER_COMMIT = ("forget:committed", "pending:model-done", "pending:crop-done", "pending:embedding-done")


@pytest.mark.parametrize("point", BEFORE_COMMIT + AFTER_COMMIT)
def test_a_kill_between_any_two_steps_of_a_forget_leaves_everything_consistent(home, point):
    before = whole_state(home)
    assert tony_entries(home)  # his crops and embeddings are cached
    result = run_child(home, "forget", crash_at=point)
    assert result.returncode == -signal.SIGKILL and "done" not in result.stdout, result.stderr[-2000:]
    assert (home / "crash.log").read_text().split() == [point]  # it died exactly there
    after = whole_state(home)
    assert after["audit_problems"] == [] and after["owed"] == [] and after["recovery_problem"] == ""
    assert not list((home / "app" / "models").rglob("*.uncommitted"))
    if point in BEFORE_COMMIT:
        assert after == before  # as if the request was never made
        assert tony_entries(home)
    else:
        (request,) = after["requests"]
        assert request[1] == ("Tony_Blair",)
        (version,) = after["versions"]
        files = dict(after["model_files"])
        (version_file,) = [f for f in files if f.endswith("/" + version[1])]
        assert files[version_file] == version[2] == request[2] == after["in_use"]["model_sha256"]
        assert after["audit"] == before["audit"] + ["forget"]
        assert tony_entries(home) == []  # the erasure a kill cut short was finished at the next start
        assert after["people"] == before["people"]  # photos go only when asked
    assert whole_state(home) == after  # and a second start changes nothing


@pytest.mark.parametrize("point", ["train:model-saved", "train:committed"])
def test_a_kill_while_training_leaves_everything_consistent(home, point):
    before = whole_state(home)
    result = run_child(home, "train", crash_at=point)
    assert result.returncode == -signal.SIGKILL and (home / "crash.log").read_text().split() == [point]
    after = whole_state(home)
    assert not list((home / "app" / "models").rglob("*.uncommitted")) and after["owed"] == []
    if point == "train:model-saved":
        assert after == before
    else:
        assert after["audit"] == before["audit"] + ["train"]
        trained = Path(after["in_use"]["model"])
        assert trained.is_file() and sha256_file(trained) == after["in_use"]["model_sha256"]


def test_a_kill_while_deleting_their_photos_finishes_at_the_next_start(home):
    result = run_child(home, "erase", crash_at="pending:photo-done")
    assert result.returncode == -signal.SIGKILL and "forgotten" in result.stdout
    assert len(list((home / "people" / "Tony_Blair").iterdir())) == 11  # one deleted, then killed
    after = whole_state(home)
    assert not (home / "people" / "Tony_Blair").exists() and after["owed"] == []
    assert after["audit"][-2:] == ["forget", "erase-photos"]
    records = Records(home / "app" / "records.db", home / "app" / "models")
    assert records.requests.all()[0].erased.photos == 12


def test_a_failure_inside_the_transaction_records_nothing(workspace, monkeypatch):
    def fail(*_args, **_kwargs):
        raise ForgetError("The records could not be written (disk I/O error); nothing was changed.")

    before = (workspace.records.requests.all(), workspace.audit.lines(), workspace.records.in_use())
    monkeypatch.setattr(workspace.records.seen, "record", fail)  # the last write before the commit
    with pytest.raises(ForgetError):
        workspace.forget(["Tony_Blair"], None, {}, reference=False)
    monkeypatch.undo()
    assert (workspace.records.requests.all(), workspace.audit.lines(), workspace.records.in_use()) == before
    assert not list(workspace.models_dir.rglob("*.ckpt*"))  # its model file went with it
    assert workspace.records.requests.forgotten("Tony_Blair") is None
    workspace.forget(["Tony_Blair"], None, {}, reference=False)  # the next try works
    assert workspace.records.requests.forgotten("Tony_Blair").request_id == 1


def test_the_audit_chain_detects_edits_removals_and_a_cut_tail(workspace):
    workspace.forget(["Tony_Blair"], None, {}, reference=False)
    workspace.forget(["Colin_Powell"], None, {}, reference=False)
    entries, problems = workspace.audit.entries()
    assert problems == [] and [e["event"] for e in entries] == ["use-model", "forget", "forget"]
    db = sqlite3.connect(workspace.records.path)
    line = db.execute("SELECT line FROM audit WHERE seq = 2").fetchone()[0]
    db.execute("UPDATE audit SET line = ? WHERE seq = 2", (line.replace('"exact"', '"EXACT"'),))
    db.commit()
    assert workspace.audit.entries()[1] == [
        "Line 2 of the audit log was edited after it was written.",
        "Line 3 of the audit log does not follow the line before it (a line was edited or removed).",
    ]
    db.execute("UPDATE audit SET line = ? WHERE seq = 2", (line,))
    db.execute("DELETE FROM audit WHERE seq = 3")
    db.commit()
    assert workspace.audit.entries()[1] == ["The audit log is shorter than it was: its last line was removed."]
    db.close()


def test_json_records_of_the_previous_version_are_migrated_with_nothing_lost(tmp_path, small_gallery):
    """A records folder made by main at 135014c (tests/fixtures/…/make.py): audit log with its chain and
    head, salt, versions ledger and report sidecars, model in use, models seen."""
    home = Path(shutil.copytree(FIXTURE / "data", tmp_path / "data"))
    people = Path(shutil.copytree(small_gallery, tmp_path / "people"))
    in_use = json.loads((home / "in-use.json").read_text())
    (home / "in-use.json").write_text(json.dumps({**in_use, "gallery": str(people)}))
    old_lines = [line for line in (FIXTURE / "data" / "audit.jsonl").read_text().splitlines() if line]
    seen = json.loads((FIXTURE / "data" / "models-seen.json").read_text())
    ledger = json.loads(next((FIXTURE / "data" / "models").glob("*/versions.json")).read_text())

    records = Records(home / "records.db", home / "models")

    entries, problems = records.audit.entries()
    assert problems == [] and [line for _, line, _ in records.audit.lines()] == old_lines  # byte for byte
    salt = (FIXTURE / "data" / "audit-salt").read_bytes()
    assert records.db.setting("salt") == salt.hex()
    requests = records.requests.all()
    assert [r.people for r in requests] == [("Colin_Powell",), ("Tony_Blair",)]
    assert requests[0].report is not None and requests[0].identical_to_reference
    assert requests[1].photos_suppressed == 12  # hashed from the folder in use: Tony's photos are still there
    assert records.requests.exclusion().person("Colin_Powell") and records.requests.exclusion().person("Tony_Blair")
    rows = records.db.query("SELECT id, file, sha256 FROM versions ORDER BY id")
    assert [(r["id"], r["file"], r["sha256"]) for r in rows] == [
        (e["id"], e["file"], e["sha256"]) for e in ledger["versions"]
    ]
    model = Path(in_use["model"])  # on the machine that made the fixture; not here
    digest = sha256_file(model) if model.is_file() else None
    assert records.in_use() == {"model": str(model), "model_sha256": digest, "gallery": str(people)}
    migrated = {(r["sha256"], r["path"]) for r in records.db.query("SELECT sha256, path FROM models_seen")}
    assert migrated == {(digest, path) for digest, entry in seen.items() for path in entry["paths"]}
    # the old files are set aside untouched, and a second start migrates nothing again
    assert not (home / "audit.jsonl").exists()
    assert (home / MIGRATED / "audit.jsonl").read_bytes() == (FIXTURE / "data" / "audit.jsonl").read_bytes()
    records.close()
    again = Records(home / "records.db", home / "models")
    assert len(again.audit.lines()) == len(old_lines) and len(again.requests.all()) == 2
    again.audit.append({"event": "test"})
    assert again.audit.entries()[1] == []  # the chain goes on from the migrated lines

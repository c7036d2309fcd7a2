"""The proof chain never breaks: whatever fails during a state change, the model in use, the records
(requests, versions, models seen, audit log), the cache and the files on disk still agree; version ids
are never reused; a model that still knows a forgotten person is never opened silently; hashed names
leave no forgotten name behind."""

import errno
import shutil
import sqlite3
from pathlib import Path

import pytest
import torch

from conftest import LFW
from forget_desktop.core.app.workspace import KnowsForgotten, Workspace
from forget_desktop.core.common import atomic
from forget_desktop.core.common.atomic import sha256_file
from forget_desktop.core.common.errors import Cancelled, ForgetError
from forget_desktop.core.common.jobs import Progress
from forget_desktop.core.faces.crops import CropCache

CPU = torch.device("cpu")


def state(workspace: Workspace) -> dict:
    """Everything that must agree: the model in use (in memory and in the records), the records, the
    model files, the cache and the folders of people."""
    records = workspace.records
    home = workspace.models_dir.parent
    return {
        "in_use": records.in_use(),
        "session": str(workspace.checkpoint.path),
        "versions": [(v.id, v.path.name) for v in workspace.versions()],
        "requests": records.requests.all(),
        "audit": workspace.audit.lines(),
        "seen": [tuple(r) for r in records.db.query("SELECT sha256, path, how FROM models_seen ORDER BY sha256, path")],
        "knows": [tuple(r) for r in records.db.query("SELECT * FROM model_knows ORDER BY sha256, name_hash")],
        "owed": [tuple(r) for r in records.db.query("SELECT action, what, path FROM pending_files WHERE done IS NULL")],
        "files": sorted(str(p.relative_to(home)) for p in workspace.models_dir.rglob("*") if p.is_file()),
        "cache": sorted(str(p) for p in workspace.cache.entries()),
        "people": sorted(str(p.relative_to(workspace.gallery_root)) for p in workspace.gallery_root.rglob("*")),
    }


def fail_audit(monkeypatch, workspace):
    def refuse(_entry):
        raise ForgetError("The audit log could not be written (No space left on device).")

    monkeypatch.setattr(workspace.audit, "append", refuse)


def fail_version_save(monkeypatch, workspace):
    def no_space(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)


def fail_versions_listing(monkeypatch, workspace):
    def refuse(*_args):
        raise ForgetError("The records could not be written (database or disk is full); nothing was changed.")

    monkeypatch.setattr(workspace.store, "record", refuse)


def fail_sqlite(monkeypatch, workspace):
    """The database itself refuses the last write of the transaction (a real sqlite3 error)."""
    original = workspace.records.set_in_use

    def locked(*args):
        workspace.records.db.connection.execute("INSERT INTO no_such_table VALUES (1)")
        original(*args)

    monkeypatch.setattr(workspace.records, "set_in_use", locked)


@pytest.mark.parametrize("fault", [fail_audit, fail_version_save, fail_versions_listing, fail_sqlite])
def test_a_forget_that_fails_anywhere_leaves_the_previous_state_whole(workspace, monkeypatch, fault):
    workspace.forget(["Colin_Powell"], None, {}, reference=False)  # one committed version before the fault
    workspace.score()
    before = state(workspace)
    fault(monkeypatch, workspace)
    with pytest.raises(ForgetError):
        workspace.forget(["Tony_Blair"], None, {}, reference=False)
    monkeypatch.undo()
    assert state(workspace) == before  # records, cache (Tony's crops still there), files, model in use
    assert workspace.records.requests.forgotten("Tony_Blair") is None
    assert not list(workspace.models_dir.rglob(".*tmp")) and not list(workspace.models_dir.rglob("*.uncommitted"))
    workspace.forget(["Tony_Blair"], None, {}, reference=False)  # and the next try works, with a fresh id
    assert [v.id for v in workspace.versions()] == [0, 1, 2]


def test_a_method_that_forgets_everyone_else_is_refused_and_nothing_is_recorded(
    tmp_path, small_finetuned, small_gallery
):
    """Gradient ascent alone (NegGrad+ with no retain term and no early stop) wrecks the fine-tuned model:
    the job says so in one sentence, and the model in use, the records and the files stay as they were."""
    workspace = Workspace(CPU, CropCache(tmp_path / "cache"), tmp_path / "app" / "models")
    workspace.open_model(shutil.copy(small_finetuned, tmp_path / "model.ckpt"))
    workspace.open_gallery(shutil.copytree(small_gallery, tmp_path / "people"))
    workspace.score()
    before = state(workspace)
    ascent_alone = {"alpha": 0.0, "stop_early": False}
    with pytest.raises(
        ForgetError,
        match=r"^NegGrad\+ forgot too much: everyone else's unseen photos were named "
        r"correctly 100\.0% of the time before and \d+\.\d% after, so this version was not kept",
    ):
        workspace.forget(["Hugo_Chavez"], "neggrad_plus", ascent_alone, reference=False)
    after = state(workspace)
    assert set(before.pop("cache")) <= set(after.pop("cache"))  # (the anchor's embeddings may have been added)
    assert after == before and workspace.records.requests.forgotten("Hugo_Chavez") is None
    report = workspace.forget(["Hugo_Chavez"], "neggrad_plus", {}, reference=False)  # its defaults keep everyone else
    assert report.unlearned.retain_test_acc == 1.0 and report.unlearned.forget_train_acc == 0.0


def test_a_partial_erasure_stays_owed_and_is_finished_at_the_next_start(workspace, monkeypatch):
    workspace.score()
    tony = {sha256_file(p) for p in (workspace.gallery_root / "Tony_Blair").iterdir()}
    entries = [e for e in workspace.cache.entries() if CropCache.digest_of(e) in tony]
    assert len(entries) == 24  # a crop and an embedding per photo
    stuck = entries[5]
    real_unlink = Path.unlink

    def unlink(self, missing_ok=False):
        if self == stuck:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    report = workspace.forget(["Tony_Blair"], None, {}, reference=False)
    monkeypatch.undo()
    assert report.erased.cached_crops + report.erased.cached_embeddings == 23  # the forget itself committed
    assert [p for p in workspace.cache.entries() if CropCache.digest_of(p) in tony] == [stuck]
    assert "will be tried again at the next start" in workspace.records.recovery_problem
    (request,) = workspace.records.requests.all()
    assert request.erasure_owed == 1
    restarted = Workspace(CPU, workspace.cache, workspace.models_dir)  # the next start: the fault is gone
    assert restarted.records.recovery_problem == ""
    assert [p for p in workspace.cache.entries() if CropCache.digest_of(p) in tony] == []
    (request,) = restarted.records.requests.all()
    assert request.erasure_owed == 0 and request.erased.cached_crops + request.erased.cached_embeddings == 24


def test_cancelling_an_enrolment_adds_nobody(workspace, tmp_path):
    photos = sorted((LFW / "Gerhard_Schroeder").iterdir())[:8]
    workspace.score()  # everyone's embeddings cached: the cache may then only change by the newcomer
    before = state(workspace)
    progress = Progress(lambda fraction, message: message.startswith("Embedding") and progress.cancel())
    with pytest.raises(Cancelled):
        workspace.enrol("Gerhard Schroeder", photos, progress=progress)
    assert state(workspace) == before
    assert not [p for p in workspace.gallery_root.iterdir() if p.name.startswith(".")]  # no staging folder left
    workspace.enrol("Gerhard Schroeder", photos)
    assert (
        "Gerhard_Schroeder" in workspace.checkpoint.classes and (workspace.gallery_root / "Gerhard_Schroeder").is_dir()
    )
    assert [e["event"] for e in workspace.audit.entries()[0]] == ["use-model", "enrol"]


def test_an_enrolment_whose_audit_line_fails_adds_nobody(workspace, monkeypatch):
    photos = sorted((LFW / "Gerhard_Schroeder").iterdir())[:8]
    workspace.score()
    before = state(workspace)
    fail_audit(monkeypatch, workspace)
    with pytest.raises(ForgetError):
        workspace.enrol("Gerhard Schroeder", photos)
    monkeypatch.undo()
    assert state(workspace) == before and "Gerhard_Schroeder" not in workspace.checkpoint.classes


def test_version_ids_are_never_reused_and_no_file_is_replaced(workspace, tmp_path):
    workspace.forget(["Colin_Powell"], None, {}, reference=False)
    second = Path(workspace.forget(["Tony_Blair"], None, {}, reference=False).output_model)
    workspace.reinclude("Tony_Blair")  # so that the first version, which knows him, opens and forgets him again
    workspace.open_model(workspace.versions()[1].path)
    workspace.delete_model(second)
    third = Path(workspace.forget(["Tony_Blair"], None, {}, reference=False).output_model)
    assert (second.name, third.name) == ("v0002.ckpt", "v0003.ckpt")
    assert [v.id for v in workspace.versions()] == [0, 1, 3]
    target = tmp_path / "keep.bin"
    atomic.write_bytes(target, b"first", exclusive=True)
    with pytest.raises(ForgetError, match="already exists and was not replaced"):
        atomic.write_bytes(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"


def test_a_model_that_still_knows_a_forgotten_person_opens_only_when_asked(workspace):
    original = workspace.checkpoint.path
    report = workspace.forget(["Tony_Blair"], None, {}, reference=False)
    with pytest.raises(KnowsForgotten) as caught:
        workspace.open_model(original)
    assert caught.value.names == ["Tony_Blair"] and caught.value.newest.path.name == "v0001.ckpt"
    assert str(caught.value) == (
        f"{original.name} still recognises Tony Blair, whom the records say were "
        "forgotten. The newest version without them is v0001.ckpt (Exact — forgot Tony Blair). "
        "Opened anyway, it names them Unknown and nothing of theirs is read from the folder."
    )
    assert str(workspace.checkpoint.path) == report.output_model  # still the version without him
    workspace.open_model(original, accept_forgotten=True)
    assert workspace.checkpoint.path == original and workspace.view().model.forgotten == ("Tony_Blair",)


def test_hashed_names_leave_no_forgotten_name_on_disk(workspace, tmp_path):
    workspace.records.hash_names = True
    home = workspace.models_dir.parent

    def names_written() -> list[str]:
        found = [str(p) for p in home.rglob("*") if "Tony" in p.name]
        for path in (p for p in home.rglob("*") if p.is_file()):
            data = path.read_bytes()
            found += [str(path) for variant in (b"Tony", "Tony".encode("utf-16-le")) if variant in data]
        return found

    workspace.forget(["Tony_Blair"], None, {}, reference=False)
    workspace.open_model(workspace.versions()[0].path, accept_forgotten=True)
    workspace.delete_model(workspace.versions()[1].path)
    workspace.erase_photos(["Tony_Blair"])
    db = sqlite3.connect(workspace.records.path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the database file itself
    db.close()
    assert names_written() == []  # records, model files, version names: hashes only
    hashed = workspace.records.requests.all()[0].people[0]
    assert hashed.startswith("sha256:") and workspace.audit.hashed("Tony_Blair") == hashed


def test_the_versions_list_shows_only_versions_whose_file_is_there(workspace):
    workspace.forget(["Tony_Blair"], None, {}, reference=False)
    version = workspace.versions()[1]
    workspace.open_model(workspace.versions()[0].path, accept_forgotten=True)
    version.path.unlink()  # deleted outside the app
    assert [v.id for v in workspace.versions()] == [0]
    listed = workspace.records.db.query("SELECT id FROM versions")
    assert [r["id"] for r in listed] == [1]  # still recorded: its id is never given out again

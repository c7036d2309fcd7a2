"""The proof chain never breaks: whatever fails during a state change, the model in use, the versions
list, the audit log and the files on disk still agree; version ids are never reused; a model that
still knows a forgotten person is never opened silently; hashed names leave no name behind."""

import errno
import json
from pathlib import Path

import pytest
import torch

from conftest import LFW
from forget_desktop.core.app import workspace as workspace_module
from forget_desktop.core.app.workspace import KnowsForgotten, Workspace
from forget_desktop.core.common import atomic
from forget_desktop.core.common.errors import Cancelled, ForgetError
from forget_desktop.core.common.jobs import Progress
from forget_desktop.core.records.audit import AuditLog

CPU = torch.device("cpu")


def state(workspace: Workspace) -> dict:
    """Everything that must agree: the model in use (in memory and on disk), the versions, the audit log,
    the model files, and the folders of people."""
    home = workspace.models_dir.parent
    return {
        "in_use": workspace.in_use(),
        "session": str(workspace.checkpoint.path),
        "versions": [(v.id, v.path.name) for v in workspace.versions()],
        "audit": workspace.audit.path.read_text() if workspace.audit.path.exists() else "",
        "files": sorted(str(p.relative_to(home)) for p in workspace.models_dir.rglob("*") if p.is_file()),
        "people": sorted(p.name for p in workspace.gallery_root.iterdir()),
    }


def fail_audit(monkeypatch, workspace):
    def refuse(_entry):
        raise ForgetError("The audit log could not be written (No space left on device).")

    monkeypatch.setattr(workspace.audit, "append", refuse)


def fail_erasure(monkeypatch, workspace):
    def refuse(*_args):
        raise ForgetError("A cached face crop could not be deleted (Permission denied); erasure is incomplete.")

    monkeypatch.setattr(workspace_module, "erase_derived", refuse)


def fail_version_save(monkeypatch, workspace):
    def no_space(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)


def fail_ledger(monkeypatch, workspace):
    def refuse(*_args):
        raise ForgetError("The list of model versions could not be written.")

    monkeypatch.setattr(workspace.store, "record", refuse)


@pytest.mark.parametrize("fault", [fail_audit, fail_erasure, fail_version_save, fail_ledger])
def test_a_forget_that_fails_anywhere_leaves_the_previous_state_whole(workspace, monkeypatch, fault):
    workspace.forget(["Colin_Powell"], None, {}, reference=False)  # one committed version before the fault
    before = state(workspace)
    fault(monkeypatch, workspace)
    with pytest.raises(ForgetError):
        workspace.forget(["Tony_Blair"], None, {}, reference=False)
    monkeypatch.undo()
    assert state(workspace) == before
    assert "Tony_Blair" not in workspace.checkpoint.meta.get("forgotten", [])
    assert not list(workspace.models_dir.rglob(".*tmp"))  # nothing half-written either
    workspace.forget(["Tony_Blair"], None, {}, reference=False)  # and the next try works, with a fresh id
    assert [v.id for v in workspace.versions()] == [0, 1, 2]


def test_cancelling_an_enrolment_adds_nobody(workspace, tmp_path):
    photos = sorted((LFW / "Gerhard_Schroeder").iterdir())[:8]
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
    assert [e["event"] for e in workspace.audit.entries()[0]] == ["enrol"]


def test_an_enrolment_whose_audit_line_fails_adds_nobody(workspace, monkeypatch):
    photos = sorted((LFW / "Gerhard_Schroeder").iterdir())[:8]
    before = state(workspace)
    fail_audit(monkeypatch, workspace)
    with pytest.raises(ForgetError):
        workspace.enrol("Gerhard Schroeder", photos)
    monkeypatch.undo()
    assert state(workspace) == before and "Gerhard_Schroeder" not in workspace.checkpoint.classes


def test_version_ids_are_never_reused_and_no_file_is_replaced(workspace, tmp_path):
    workspace.forget(["Colin_Powell"], None, {}, reference=False)
    second = Path(workspace.forget(["Tony_Blair"], None, {}, reference=False)["output_model"])
    workspace.open_model(workspace.versions()[1].path, accept_forgotten=True)
    workspace.delete_model(second)
    third = Path(workspace.forget(["Tony_Blair"], None, {}, reference=False)["output_model"])
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
        f"{original.name} still recognises Tony Blair, whom the audit log says were "
        "forgotten. The newest version without them is v0001.ckpt (exact — forgot Tony Blair)."
    )
    assert str(workspace.checkpoint.path) == report["output_model"]  # still the version without him
    workspace.open_model(original, accept_forgotten=True)
    assert workspace.checkpoint.path == original


def test_hashed_names_leave_no_name_on_disk(workspace, tmp_path):
    workspace.audit.hash_names = True
    home = workspace.models_dir.parent

    def no_name_written() -> bool:
        written = [p for p in home.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")]
        return bool(written) and all("Tony" not in p.read_text() and "Tony" not in p.name for p in written)

    workspace.forget(["Tony_Blair"], None, {}, reference=False)
    assert no_name_written() and "Tony" not in workspace.versions()[1].title  # ledger, report, audit, title
    workspace.open_model(workspace.versions()[0].path, accept_forgotten=True)
    workspace.delete_model(workspace.versions()[1].path)
    assert no_name_written() and not [p for p in home.rglob("*") if "Tony" in p.name]
    hashed = workspace.audit.entries()[0][0]["identities"][0]
    again = AuditLog(workspace.audit.path, hash_names=True)
    assert hashed.startswith("sha256:") and again.identity("Tony_Blair") == hashed  # the same after a restart


def test_the_ledger_lists_only_versions_whose_file_is_there(workspace):
    workspace.forget(["Tony_Blair"], None, {}, reference=False)
    version = workspace.versions()[1]
    workspace.open_model(workspace.versions()[0].path, accept_forgotten=True)
    version.path.unlink()  # deleted outside the app
    assert [v.id for v in workspace.versions()] == [0]
    ledger = json.loads((version.path.parent / "versions.json").read_text())
    assert [e["id"] for e in ledger["versions"]] == [1]  # still recorded: its id is never given out again

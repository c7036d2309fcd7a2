"""After forgetting: nothing derived from the person's photos stays in the cache; photos go only on
request; models that still know them are listed; every request is in the append-only audit log."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from forget_desktop.core.common.atomic import sha256_file
from forget_desktop.core.common.errors import ForgetError
from forget_desktop.core.faces.crops import CropCache
from forget_desktop.core.records.audit import AuditLog
from forget_desktop.core.records.erasure import derived_files

CPU = torch.device("cpu")


def cache_files_of(cache: CropCache, photos) -> list:
    digests = {sha256_file(p) for p in photos}
    return [e for e in cache.entries() if CropCache.digest_of(e) in digests]


def test_forgetting_erases_cached_crops_and_keeps_photos_until_asked(workspace):
    gallery = workspace.gallery_root
    photos = sorted((gallery / "Hugo_Chavez").iterdir())
    workspace.score()  # the embedding model reads (and caches) every photo's embedding
    assert len(cache_files_of(workspace.cache, photos)) == 2 * len(photos)  # a crop and an embedding each
    others_before = len(workspace.cache.entries()) - 2 * len(photos)
    report = workspace.forget(["Hugo_Chavez"], None, {}, reference=False)
    assert report["erased"]["cached_crops"] == report["erased"]["cached_embeddings"] == len(photos)
    assert cache_files_of(workspace.cache, photos) == []
    assert derived_files(["Hugo_Chavez"], gallery, workspace.cache) == []
    assert len(workspace.cache.entries()) == others_before  # everyone else's crops stay
    assert "Hugo_Chavez" in workspace.gallery.absent and all(
        workspace.gallery.classes[label] != "Hugo_Chavez" for label in workspace.gallery.train.labels.tolist()
    )
    assert all(p.exists() for p in photos)  # photos stay until the user confirms
    # re-opening the gallery for the new model does not derive their crops again
    workspace.open_gallery(gallery)
    assert cache_files_of(workspace.cache, photos) == []
    row = next(r for r in workspace.view().rows if r.name == "Hugo_Chavez")
    assert row.forgotten and row.thumbnail is None and row.images == len(photos)
    # explicit erasure of the photos
    summary = workspace.erase_photos(["Hugo_Chavez"])
    assert summary["photos"] == len(photos) and not (gallery / "Hugo_Chavez").exists()
    assert [p.name for p in gallery.iterdir()] and "Hugo_Chavez" not in [p.name for p in gallery.iterdir()]
    with pytest.raises(ForgetError, match="Only the photos of people the current model has forgotten"):
        workspace.erase_photos(["Tony_Blair"])


def test_models_that_still_know_them_are_found_and_deletable(workspace, tmp_path):
    original = workspace.checkpoint.path
    copy = Path(shutil.copy(original, tmp_path / "elsewhere.ckpt"))  # an identical copy the app has opened
    workspace.open_model(copy)
    workspace.open_model(original)
    workspace.forget(["Tony_Blair"], None, {}, reference=False)
    knowing = workspace.models_knowing(["Tony_Blair"])
    assert sorted(m.path for m in knowing) == sorted([original.resolve(), copy.resolve()])
    first = workspace.checkpoint.path
    workspace.forget(["Colin_Powell"], None, {}, reference=False)
    knowing = [m.path for m in workspace.models_knowing(["Colin_Powell"])]
    assert sorted(knowing) == sorted([original.resolve(), copy.resolve(), first.resolve()])
    workspace.delete_model(first)
    assert not first.exists() and first not in [v.path for v in workspace.versions()]
    with pytest.raises(ForgetError, match="cannot be deleted"):
        workspace.delete_model(workspace.versions()[-1].path)


def test_audit_log_has_one_line_per_request_and_detects_edits(workspace):
    model_before = sha256_file(workspace.checkpoint.path)
    workspace.forget(["Tony_Blair"], None, {}, reference=False)
    workspace.audit.hash_names = True
    workspace.forget(["Colin_Powell"], "salun", {"epochs": 3}, reference=False)
    entries, problems = workspace.audit.entries()
    assert problems == [] and [e["event"] for e in entries] == ["forget", "forget"]
    first, second = entries
    assert first["identities"] == ["Tony_Blair"] and first["method"] == "exact" and second["options"]["epochs"] == 3.0
    assert first["model_before_sha256"] == model_before
    assert first["model_after_sha256"] == second["model_before_sha256"]
    assert first["metrics"]["unlearned"]["forget_train_acc"] == 0.0 and first["erased"]["cached_crops"] == 12
    assert second["identities"][0].startswith("sha256:") and "Colin" not in json.dumps(second)
    text = workspace.audit.path.read_text()
    assert "crop" not in json.dumps([e.get("metrics") for e in entries])  # numbers only, no images
    assert len(text.splitlines()) == 2
    log = workspace.audit.path
    log.write_text(text.replace('"method": "exact"', '"method": "EXACT"'))
    assert workspace.audit.entries()[1] == [
        "Line 2 of the audit log does not follow the line before it (a line was edited or removed)."
    ]
    log.write_text(text.replace('"method": "salun"', '"method": "SALUN"'))  # the last line
    assert workspace.audit.entries()[1] == ["The last line of the audit log was edited."]
    log.write_text(text.splitlines(keepends=True)[0])  # its tail cut off
    assert workspace.audit.entries()[1] == ["The audit log is shorter than it was: its last line was removed."]
    log.write_text(text)
    assert workspace.audit.entries()[1] == []


def test_audit_export_and_damaged_line(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append({"event": "forget", "identities": ["A"]})
    with open(log.path, "ab") as handle:
        handle.write(b'{"event": "forg')  # a crash mid-line
    log.append({"event": "forget", "identities": ["B"]})
    entries, problems = log.entries()
    assert [e["identities"] for e in entries] == [["A"], ["B"]]
    assert problems == ["Line 2 of the audit log is damaged and was skipped."]
    exported = log.export(tmp_path / "out" / "copy.jsonl")
    assert exported.read_bytes() == log.path.read_bytes()
    shutil.rmtree(tmp_path / "out")

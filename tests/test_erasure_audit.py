"""After forgetting: nothing derived from the person's photos stays in the cache; photos go only on
request; models that still know them are listed; every request is in the append-only audit log."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from forget_desktop.core.common.atomic import sha256_file
from forget_desktop.core.common.errors import ForgetError
from forget_desktop.core.faces.crops import CropCache
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
    assert report.erased.cached_crops == report.erased.cached_embeddings == len(photos)
    assert cache_files_of(workspace.cache, photos) == []
    assert derived_files(["Hugo_Chavez"], workspace.cache, {sha256_file(p) for p in photos}) == []
    assert len(workspace.cache.entries()) == others_before  # everyone else's crops stay
    assert "Hugo_Chavez" not in workspace.gallery.classes and len(workspace.gallery.classes) == 3
    assert all(p.exists() for p in photos)  # photos stay until the user confirms
    # re-opening the gallery for the new model does not derive their crops again
    workspace.open_gallery(gallery)
    assert cache_files_of(workspace.cache, photos) == []
    row = next(r for r in workspace.view().rows if r.name == "Hugo_Chavez")
    assert row.forgotten and row.thumbnail is None and row.images == len(photos)
    # explicit erasure of the photos
    erased = workspace.erase_photos(["Hugo_Chavez"])
    assert erased.photos == len(photos) and not (gallery / "Hugo_Chavez").exists()
    assert [p.name for p in gallery.iterdir()] and "Hugo_Chavez" not in [p.name for p in gallery.iterdir()]
    assert workspace.records.requests.all()[0].erased.photos == len(photos)
    with pytest.raises(ForgetError, match="Only the photos of people who were forgotten"):
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


def test_audit_log_has_one_line_per_request(workspace):
    model_before = sha256_file(workspace.checkpoint.path)
    workspace.forget(["Tony_Blair"], None, {}, reference=False)
    workspace.records.hash_names = True
    workspace.forget(["Colin_Powell"], "salun", {"epochs": 3}, reference=False)
    entries, problems = workspace.audit.entries()
    assert problems == [] and [e["event"] for e in entries] == ["use-model", "forget", "forget"]
    first, second = entries[1:]
    assert first["identities"] == ["Tony_Blair"] and first["method"] == "exact" and second["options"]["epochs"] == 3.0
    assert first["model_before_sha256"] == model_before and first["photos_suppressed"] == 12
    assert first["model_after_sha256"] == second["model_before_sha256"]
    assert first["metrics"]["unlearned"]["forget_train_acc"] == 0.0
    assert second["identities"][0].startswith("sha256:") and "Colin" not in json.dumps(second)
    assert "crop" not in json.dumps([e.get("metrics") for e in entries])  # numbers only, no images


def test_audit_export_is_the_chain_anyone_can_check(workspace, tmp_path):
    workspace.forget(["Tony_Blair"], None, {}, reference=False)
    exported = workspace.audit.export(tmp_path / "out" / "audit.jsonl")
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    previous = None
    for line in lines:  # the chain, checked with nothing but hashlib and json
        assert json.loads(line)["previous_sha256"] == previous
        previous = hashlib.sha256(line.encode("utf-8")).hexdigest()
    assert previous == workspace.audit.head()["last_sha256"]

"""Forgetting photos, not people: the person stays known on their other photos; on an embedding model the
result is the model trained without the photos, tensor for tensor (also when training again through the
door, which leaves them out by content); their crops and embeddings are erased, their hashes recorded;
the command line and the window do the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import MOBILEFACENET, run_python, wait_idle
from forget_desktop.core.app.train_job import TrainRequest, train_model
from forget_desktop.core.common.atomic import sha256_file
from forget_desktop.core.common.errors import Cancelled, ForgetError
from forget_desktop.core.common.jobs import Progress
from forget_desktop.core.faces.crops import CropCache
from forget_desktop.core.model.checkpoint import load_checkpoint
from forget_desktop.core.unlearning import REGISTRY
from forget_desktop.core.unlearning.job import UnlearnRequest, compare_models, unlearn_job
from forget_desktop.core.unlearning.photos import PHOTO_OPTIONS
from forget_desktop.ui.photo_grid import PATH_ROLE

CPU = torch.device("cpu")


def photos_of(workspace, name: str, heldout: bool = False) -> list[Path]:
    """The photos of ``name`` the model in use trains on (or, ``heldout``, is tested on)."""
    crops = workspace.gallery.heldout if heldout else workspace.gallery.train
    label = workspace.gallery.classes.index(name)
    return [Path(s) for s, lab in zip(crops.sources, crops.labels.tolist()) if lab == label]


def cached(cache: CropCache, digests: set[str]) -> list[Path]:
    return [e for e in cache.entries() if CropCache.digest_of(e) in digests]


def test_forgetting_photos_is_training_without_them_and_the_person_stays(workspace):
    chosen = photos_of(workspace, "Colin_Powell")[:3] + photos_of(workspace, "Colin_Powell", heldout=True)[:1]
    digests = {sha256_file(p) for p in chosen}
    others = {sha256_file(p) for p in photos_of(workspace, "Colin_Powell")[3:]}
    workspace.score()  # embeds the faces (cached beside their crops)
    assert len(cached(workspace.cache, digests)) == 8  # a crop and an embedding of each
    photos_before = len(workspace.gallery.train) + len(workspace.gallery.heldout)

    report = workspace.forget_photos(chosen, None, {}, reference=True)

    assert report.scope == "photos" and report.photos == 4 and report.forget == ("Colin_Powell",)
    assert report.identical_to_reference is True  # every tensor against a head trained without the photos
    assert report.to_dict()["scope"] == "photos"
    model = workspace.checkpoint
    assert model.classes == ["Ariel_Sharon", "Colin_Powell", "Hugo_Chavez", "Tony_Blair"]
    assert report.unlearned.forget_test_acc == 1.0  # his other held-out photos are still named as him
    # The door: training again on the folder leaves the photos out by content and gives the same model.
    exclusion = workspace.records.requests.exclusion()
    assert digests <= exclusion.digests and not exclusion.names
    again = train_model(
        TrainRequest(workspace.gallery_root, "mobilefacenet", None, str(MOBILEFACENET), exclude=exclusion),
        CPU,
        cache=workspace.cache,
    )
    assert again.gallery.split.left_out.photos == 4 and not again.gallery.split.left_out.people
    assert again.gallery.split.left_out.sentence().startswith("Left out 4 forgotten photos of people who stay known:")
    assert compare_models(again.checkpoint.model, model.model)["identical"]
    # What was derived from the photos is erased; his other photos' crops and embeddings stay.
    assert cached(workspace.cache, digests) == []
    assert len(cached(workspace.cache, others)) == 2 * len(others)
    assert report.erased.cached_crops == 4 and report.erased.cached_embeddings == 4
    request = workspace.records.requests.get(report.request_id)
    assert request.scope == "photos" and request.photos_suppressed == 4 and request.people == ()
    assert request.report.forget == ("Colin_Powell",) and request.report.per_photo_mia["shadows"] == 64
    assert not workspace.records.requests.people()  # nobody is forgotten
    assert len(workspace.gallery.train) + len(workspace.gallery.heldout) == photos_before - 4


def test_forgetting_photos_again_later_stays_exact(workspace):
    """A second request on the version the first made: the photos forgotten first stay out, and the split
    of everyone's remaining photos is the one the model was trained on, so it is exact again."""
    first = photos_of(workspace, "Tony_Blair")[:2]
    workspace.forget_photos(first, None, {}, reference=False)
    second = photos_of(workspace, "Hugo_Chavez")[:2]
    report = workspace.forget_photos(second, None, {}, reference=False)
    assert report.identical_to_reference is True
    assert {sha256_file(p) for p in first + second} <= workspace.records.requests.exclusion().digests


def test_cancelling_during_the_per_photo_test_changes_nothing(workspace):
    before = (workspace.checkpoint.path, sha256_file(workspace.checkpoint.path), len(workspace.gallery.train))
    files = sorted(p for p in workspace.models_dir.rglob("*") if p.is_file())
    progress = Progress()

    def cancel_in_the_test(_fraction: float, message: str) -> None:
        if message.startswith("Per-photo test"):
            progress.cancel()

    with pytest.raises(Cancelled):
        workspace.forget_photos(
            photos_of(workspace, "Hugo_Chavez")[:2], None, {}, True, progress.reporting_to(cancel_in_the_test)
        )
    assert (workspace.checkpoint.path, sha256_file(workspace.checkpoint.path), len(workspace.gallery.train)) == before
    assert sorted(p for p in workspace.models_dir.rglob("*") if p.is_file()) == files
    assert workspace.records.requests.all() == [] and not workspace.records.requests.exclusion()


def test_a_photo_the_model_never_used_or_every_photo_of_someone_is_refused(small_checkpoint, small_gallery, tmp_path):
    outside = tmp_path / "elsewhere.jpg"
    shutil.copy(next((small_gallery / "Tony_Blair").iterdir()), outside)
    request = UnlearnRequest(small_checkpoint, small_gallery, [], forget_photos=[outside], per_photo_mia=False)
    with pytest.raises(ForgetError, match="is not inside the data folder"):
        unlearn_job(request, CPU)
    everyone = sorted((small_gallery / "Tony_Blair").iterdir())
    request = UnlearnRequest(small_checkpoint, small_gallery, [], forget_photos=everyone, per_photo_mia=False)
    with pytest.raises(ForgetError, match="every training photo of Tony Blair; forget the person instead"):
        unlearn_job(request, CPU)


def test_unlearn_forget_photos_on_the_command_line(small_checkpoint, small_gallery, tmp_path):
    photos = sorted((small_gallery / "Hugo_Chavez").iterdir())[:3]
    listing = tmp_path / "photos.txt"
    listing.write_text("# withdrawn by the person\n" + "\n".join(str(p) for p in photos) + "\n")
    out, report_path, records = tmp_path / "forgot.ckpt", tmp_path / "report.json", tmp_path / "records.db"
    result = run_python(
        "-m",
        "forget_desktop",
        "unlearn",
        "--model",
        str(small_checkpoint),
        "--data",
        str(small_gallery),
        "--forget-photos",
        str(listing),
        "--out",
        str(out),
        "--report",
        str(report_path),
        "--records",
        str(records),
        "--device",
        "cpu",
        env={"FORGET_CACHE_DIR": str(tmp_path / "cache")},  # its own cache: only these photos' crops in it
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["scope"] == "photos" and report["photos"] == 3 and report["identical_to_reference"] is True
    mia = report["per_photo_mia"]
    assert mia["unlearned"] == mia["reference"] and mia["shadows"] >= 64
    assert (
        "identical to the retrained reference: true" in result.stdout and "per-photo membership test" in result.stdout
    )
    assert load_checkpoint(out).classes == load_checkpoint(small_checkpoint).classes
    listed = run_python("-m", "forget_desktop", "forgotten", "--records", str(records))
    entry = json.loads(listed.stdout.splitlines()[-1])
    assert entry["scope"] == "photos" and entry["photos_suppressed"] == 3 and entry["crops_erased"] == 3

    missing = tmp_path / "missing.txt"
    missing.write_text(str(small_gallery / "Hugo_Chavez" / "no-such-photo.jpg") + "\n")
    failed = run_python(
        "-m", "forget_desktop", "unlearn", "--model", str(small_checkpoint), "--data", str(small_gallery),
        "--forget-photos", str(missing), "--out", str(tmp_path / "x.ckpt"), "--records", str(records),
    )  # fmt: skip
    assert failed.returncode != 0 and "cannot be read" in failed.stderr and "Traceback" not in failed.stderr


def forget_finetuned(small_finetuned, small_gallery, reference: bool):
    photos = sorted((small_gallery / "Ariel_Sharon").iterdir())[:3]
    request = UnlearnRequest(small_finetuned, small_gallery, [], forget_photos=photos, reference=reference)
    outcome = unlearn_job(request, CPU, cache=CropCache())
    report = outcome.report
    assert report.scope == "photos" and report.method == "salun" and report.identical_to_reference is None
    assert report.options["relabel"] == "soft" and report.options["stop_early"] is False  # the photo recipe
    assert outcome.checkpoint.classes == load_checkpoint(small_finetuned).classes
    mia = report.per_photo_mia
    assert "pretrained" in mia["shadow_models"]  # stand-in shadows on the frozen starting point
    scored = {p["sha256"] for p in mia["photos"]}  # the forgotten training photos, each with its scores
    assert scored <= set(outcome.photos["Ariel_Sharon"]) and len(scored) == mia["forgotten_photos"] > 0
    return report, mia


def test_a_finetuned_model_forgets_photos_with_its_random_sample_recipe(small_finetuned, small_gallery):
    report, mia = forget_finetuned(small_finetuned, small_gallery, reference=False)
    assert report.reference is None and {"original", "unlearned"} <= set(mia) and "reference" not in mia
    assert all(p["original"] is not None and p["unlearned"] is not None for p in mia["photos"])


@pytest.mark.slow
def test_a_finetuned_model_forgets_photos_against_its_reference(small_finetuned, small_gallery):
    report, mia = forget_finetuned(small_finetuned, small_gallery, reference=True)
    assert report.reference is not None and {"original", "unlearned", "reference"} <= set(mia)
    assert all(p["reference"] is not None for p in mia["photos"])


def test_the_window_forgets_ticked_photos_and_shows_the_proof(
    qtbot, make_window, small_checkpoint, small_gallery, tmp_path
):
    gallery = shutil.copytree(small_gallery, tmp_path / "people")
    window = make_window()
    window.models.open_model(shutil.copy(small_checkpoint, tmp_path / "model.ckpt"))
    window.models.open_data(gallery)
    wait_idle(qtbot, window)
    window.identities.select_person("Tony_Blair")
    wait_idle(qtbot, window)
    grid = window.identities.photos
    shown = grid.grid.count()
    assert grid.person == "Tony_Blair" and shown >= 10
    paths = [grid.grid.item(i).data(PATH_ROLE) for i in range(3)]
    grid.set_ticked(paths)
    assert grid.forget_button.isEnabled() and grid.forget_button.text() == "Forget 3 photos of Tony Blair"
    grid.forget_button.click()
    wait_idle(qtbot, window)
    report = window.results.report
    assert report.scope == "photos" and report.photos == 3 and report.identical_to_reference is True
    assert window.tabs.currentWidget() is window.results
    assert "Forgot 3 photos of Tony Blair" in window.results.headline.text()
    assert "on the forgotten photos" in window.results.privacy_title.text()
    proof = window.results.photo_proof
    assert set(proof.shown) >= {"original", "unlearned", "reference"}
    assert list(proof.shown["unlearned"]) == list(proof.shown["reference"])  # exact: the same distribution
    assert "reference" in proof.sentence.text() and "0.5 means" in proof.sentence.text()
    assert grid.grid.count() == shown - 3  # the grid shows what is left
    window.tabs.setCurrentWidget(window.audit)  # read when the tab opens
    wait_idle(qtbot, window)
    audit = window.audit.table  # the log says photos were forgotten, not the person (it read "Tony Blair")
    assert audit.item(0, 1).text() == "forget" and audit.item(0, 2).text() == "3 photos of Tony Blair"
    window.results.save_png(tmp_path / "results.png")
    assert (tmp_path / "results.png").stat().st_size > 10_000


@pytest.mark.parametrize("method", ["neggrad_plus", "scrub", "ssd"])
def test_each_method_forgets_photos_with_its_own_recipe_and_the_person_stays(method, small_finetuned, small_gallery):
    """A photos request runs each approximate method's random-sample recipe, not its people defaults (which
    push the photos onto someone else until none is named as the person, taking their other photos along)."""
    photos = sorted((small_gallery / "Ariel_Sharon").iterdir())[:3]
    request = UnlearnRequest(small_finetuned, small_gallery, [], forget_photos=photos, method=method)
    report = unlearn_job(request, CPU, cache=CropCache()).report
    assert report.scope == "photos" and report.method == method
    assert report.options == REGISTRY[method].resolve(PHOTO_OPTIONS[method])
    before, after = report.original, report.unlearned
    assert after.forget_test_acc >= before.forget_test_acc  # their held-out photos: still named as them
    assert after.retain_test_acc >= before.retain_test_acc - 0.05  # everyone else: as before
    assert after.named_as_other <= before.named_as_other + 0.34  # at most one of the three pushed onto another

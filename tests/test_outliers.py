"""The photos that do not belong: a photo of Hugo Chávez filed under Colin Powell comes first, with the
reason; a blurred copy is flagged as such; keeping a photo is remembered; moving it forgets it from the wrong
person and files it under the right one, where training learns it again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
import torch

from conftest import run_python, train_small, wait_idle
from forget_desktop.core.app.train_job import TrainRequest, train_model
from forget_desktop.core.app.workspace import Workspace
from forget_desktop.core.common.atomic import sha256_file
from forget_desktop.core.faces.crops import CropCache
from forget_desktop.core.records.store import Records

CPU = torch.device("cpu")
MISFILED = "Colin_Powell/Colin_Powell_9999.jpg"  # really a photo of Hugo Chávez
BLURRED = "Tony_Blair/Tony_Blair_9999.jpg"  # a blurred copy of one of his photos


@pytest.fixture(scope="module")
def planted(tmp_path_factory, small_gallery) -> tuple[Path, Path]:
    """The small gallery with one of Hugo Chávez's photos moved into Colin Powell's folder and a blurred
    copy of a Tony Blair photo, and an embedding model trained on it (as a user would have it)."""
    base = tmp_path_factory.mktemp("planted")
    gallery = shutil.copytree(small_gallery, base / "people")
    intruder = sorted((gallery / "Hugo_Chavez").iterdir())[-1]
    shutil.move(intruder, gallery / MISFILED)
    sharp = cv2.imread(str(sorted((gallery / "Tony_Blair").iterdir())[0]))
    cv2.imwrite(str(gallery / BLURRED), cv2.GaussianBlur(sharp, (0, 0), 3.0))
    return gallery, train_small(gallery, base / "model.ckpt")


def open_workspace(tmp_path: Path, planted, records: Path | None = None) -> Workspace:
    gallery, model = planted
    gallery = shutil.copytree(gallery, tmp_path / "people", dirs_exist_ok=True)
    space = Workspace(CPU, CropCache(), records=Records(records or tmp_path / "records.db", tmp_path / "models"))
    space.open_model(shutil.copy(model, tmp_path / "model.ckpt"))
    space.open_gallery(gallery)
    return space


def test_the_misfiled_photo_comes_first_with_its_reason(planted, tmp_path):
    space = open_workspace(tmp_path, planted)
    suspects = space.outliers()
    first = suspects[0]
    assert first.file.endswith(MISFILED) and first.person == "Colin_Powell" and first.closest_other == "Hugo_Chavez"
    assert first.reason.startswith("closer to Hugo Chavez than to their own photos") and first.score > 0
    assert all(s.score < first.score for s in suspects[1:])
    blurred = next(s for s in suspects if s.file.endswith(BLURRED))
    assert "face too small or blurred" in blurred.reason
    # every photo with a reason comes before every photo in which nothing unusual was found
    assert [bool(s.reason) for s in suspects] == sorted((bool(s.reason) for s in suspects), reverse=True)
    assert suspects.index(blurred) < sum(bool(s.reason) for s in suspects)
    assert sum("face too small or blurred" in s.reason for s in suspects) <= 2  # the sharp photos are not flagged


def test_outliers_on_the_command_line(planted, tmp_path):
    gallery, model = planted
    result = run_python(
        "-m", "forget_desktop", "outliers", "--model", str(model), "--data", str(gallery), "--top", "3",
        "--records", str(tmp_path / "records.db"), "--device", "cpu",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and lines[0]["file"] == MISFILED and lines[0]["person"] == "Colin_Powell"
    assert {"file", "person", "score", "reason", "closest_other"} <= set(lines[0])
    order = [(not line["reason"], -line["score"]) for line in lines]  # those with a reason first, then by score
    assert order == sorted(order)
    bad = run_python("-m", "forget_desktop", "outliers", "--model", str(model), "--data", str(gallery), "--top", "0")
    assert bad.returncode != 0 and "--top must be a positive number" in bad.stderr


def test_keeping_a_photo_is_remembered_after_a_restart(planted, tmp_path):
    space = open_workspace(tmp_path, planted)
    first = space.outliers()[0]
    space.keep_photos([first.sha256])
    again = open_workspace(tmp_path / "later", planted, records=tmp_path / "records.db")
    assert first.sha256 not in {s.sha256 for s in again.outliers()}
    entries, problems = again.audit.entries()
    assert not problems and entries[-1]["event"] == "keep-photos" and entries[-1]["photos"] == 1


def test_moving_the_photo_forgets_it_there_and_files_it_under_the_right_person(planted, tmp_path):
    space = open_workspace(tmp_path, planted)
    misfiled = space.gallery_root / MISFILED
    digest = sha256_file(misfiled)
    report, moved = space.move_photos([misfiled], "Hugo_Chavez", None)
    assert report.scope == "photos" and report.forget == ("Colin_Powell",) and report.identical_to_reference
    assert not misfiled.exists() and moved == [space.gallery_root / "Hugo_Chavez" / misfiled.name]
    assert digest not in space.records.requests.exclusion().digests  # it belongs to him: no longer kept out
    again = train_model(
        TrainRequest(space.gallery_root, "mobilefacenet", None, exclude=space.records.requests.exclusion()), CPU
    )
    hugo = again.gallery.classes.index("Hugo_Chavez")
    learned = [Path(s.path).name for s in again.gallery.split.train + again.gallery.split.heldout if s.label == hugo]
    assert misfiled.name in learned and not again.gallery.split.left_out
    assert space.audit.entries()[0][-1]["event"] == "move-photos"


def test_the_window_lists_them_and_forgets_one_from_the_list(qtbot, make_window, planted, tmp_path):
    gallery, model = planted
    gallery = shutil.copytree(gallery, tmp_path / "people")
    window = make_window()
    window.models.open_model(shutil.copy(model, tmp_path / "model.ckpt"))
    window.models.open_data(gallery)
    wait_idle(qtbot, window)
    view = window.identities.outliers
    view.find_button.click()
    wait_idle(qtbot, window)
    assert view.rows[0].path.endswith(MISFILED)
    assert "\ncloser to Hugo Chavez than to their own photos" in view.model.item(0, 0).text()
    view.select_rows([0])
    assert view.person_box.currentData() == "Hugo_Chavez" and view.forget_button.isEnabled()
    view.forget_button.click()
    wait_idle(qtbot, window)
    assert window.results.report.scope == "photos" and window.results.report.photos == 1
    assert not any(r.path.endswith(MISFILED) for r in view.rows)

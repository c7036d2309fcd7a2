"""Forgotten stays forgotten: every door that could learn a forgotten person again honours the forget
request — training (the workspace and train_face.py), a renamed copy of their photos, enrolment, Get
started, opening or reverting to a model that still knows them (with or without insisting), the cache,
predict — and a person comes back only when let back in by name, as an audit event of its own.

Each test forgets a real person of the small LFW gallery, goes through one door, and checks that a photo
of them the model never saw is named Unknown (and that nothing of theirs was derived again)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
import torch

from conftest import LFW, MOBILEFACENET, run_python
from forget_desktop.core.app.first_run import get_started
from forget_desktop.core.app.workspace import ForgottenPerson, KnowsForgotten, Workspace
from forget_desktop.core.common.atomic import sha256_file
from forget_desktop.core.common.jobs import Progress
from forget_desktop.core.faces.crops import CropCache
from forget_desktop.core.faces.frames import Frame
from forget_desktop.core.recognition.recognise import UNKNOWN

CPU = torch.device("cpu")
UNSEEN = sorted((LFW / "Colin_Powell").iterdir())[-1]  # the small gallery holds only his first 12 photos


def named(workspace: Workspace, photo: Path = UNSEEN) -> str:
    """Who the model in use says is in ``photo``, at its calibrated threshold (as the window shows it)."""
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    faces = workspace.recognise(Frame(rgb, 0, photo.name, stream=False))
    assert len(faces) == 1
    return faces[0].named_at(workspace.checkpoint.threshold)


def chosen(workspace: Workspace, photo: Path = UNSEEN) -> str:
    """The person whose centre is closest to the face in ``photo``, whatever the threshold."""
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    return workspace.recognise(Frame(rgb, 0, photo.name, stream=False))[0].top[0][0]


def derived_from(workspace: Workspace, name: str) -> int:
    """Cache files made from this person's photos in the gallery (by content hash)."""
    digests = {sha256_file(p) for p in (workspace.gallery_root / name).iterdir()}
    return sum(CropCache.digest_of(entry) in digests for entry in workspace.cache.entries())


@pytest.fixture
def forgotten(workspace) -> Workspace:
    """The small gallery's model, with Colin Powell forgotten (exact) and checked Unknown."""
    assert named(workspace) == "Colin_Powell"
    workspace.forget(["Colin_Powell"], None, {}, reference=False)
    assert named(workspace) == UNKNOWN and derived_from(workspace, "Colin_Powell") == 0
    return workspace


def test_training_again_leaves_them_out_and_says_so(forgotten):
    forgotten.train("mobilefacenet", str(MOBILEFACENET), None)
    assert "Colin_Powell" not in forgotten.checkpoint.classes and len(forgotten.checkpoint.classes) == 3
    assert named(forgotten) == UNKNOWN
    sentence = forgotten.view().left_out
    assert "1 forgotten person's folder (12 photos): they are not learned again" in sentence, sentence
    assert derived_from(forgotten, "Colin_Powell") == 0  # nothing of his was cropped or embedded again
    train = [e for e in forgotten.audit.entries()[0] if e["event"] == "train"][-1]
    assert train["left_out_as_forgotten"] == {"people": 1, "photos": 12}


def test_a_renamed_copy_of_their_photos_is_still_left_out(forgotten):
    root = forgotten.gallery_root
    shutil.copytree(root / "Colin_Powell", root / "Person_X")  # the same photos under another name
    shutil.copy(
        root / "Colin_Powell" / sorted(p.name for p in (root / "Colin_Powell").iterdir())[0],
        root / "Tony_Blair" / "slipped_in.jpg",
    )  # and one slipped into someone else's folder
    forgotten.train("mobilefacenet", str(MOBILEFACENET), None)
    assert forgotten.checkpoint.classes == ["Ariel_Sharon", "Hugo_Chavez", "Tony_Blair"]
    assert named(forgotten) == UNKNOWN
    assert forgotten.gallery.split.left_out.people == ("Colin_Powell", "Person_X")
    assert forgotten.gallery.split.left_out.photos == 25
    assert forgotten.view().left_out.startswith(
        "Left out 2 folders of forgotten people (24 photos) and 1 forgotten photo of people who stay known:"
    ), forgotten.view().left_out
    assert not [s for s in forgotten.gallery.train.sources + forgotten.gallery.heldout.sources if "slipped" in s]


def test_enrolling_them_again_is_refused_by_name_and_by_photo(forgotten):
    photos = sorted((LFW / "Colin_Powell").iterdir())[12:20]
    with pytest.raises(ForgottenPerson, match="forgotten"):
        forgotten.enrol("Colin Powell", photos)
    with pytest.raises(ForgottenPerson, match="forgotten"):
        forgotten.enrol("Someone New", sorted((forgotten.gallery_root / "Colin_Powell").iterdir())[:6])
    assert named(forgotten) == UNKNOWN and not (forgotten.gallery_root / "Someone_New").exists()


def test_get_started_again_leaves_them_out(forgotten, tmp_path):
    fresh = Workspace(CPU, forgotten.cache, records=forgotten.records)  # same records, nothing open yet
    photo = get_started(fresh, Progress(), lfw=forgotten.gallery_root)
    assert "Colin_Powell" not in fresh.checkpoint.classes and "Colin_Powell" not in str(photo)
    assert named(fresh) == UNKNOWN and derived_from(fresh, "Colin_Powell") == 0


@pytest.mark.parametrize("insist", [False, True])
def test_reverting_to_a_model_that_still_knows_them(forgotten, insist):
    original, version = forgotten.versions()[0], forgotten.versions()[1]
    switches = len([e for e in forgotten.audit.entries()[0] if e["event"] == "use-model"])
    with pytest.raises(KnowsForgotten) as caught:
        forgotten.open_model(original.path)
    assert caught.value.newest.path == version.path  # the newest version without him is offered
    assert "Colin Powell" in str(caught.value) and version.path.name in str(caught.value)
    if insist:
        forgotten.open_model(original.path, accept_forgotten=True)
        assert forgotten.checkpoint.path == original.path and "Colin_Powell" in forgotten.checkpoint.classes
        forgotten.score()
    else:
        forgotten.open_model(caught.value.newest.path)
        assert forgotten.checkpoint.path == version.path
    assert named(forgotten) == UNKNOWN  # insisting or not, he is never named
    assert derived_from(forgotten, "Colin_Powell") == 0  # nothing of his re-derived into the cache
    events = [e for e in forgotten.audit.entries()[0] if e["event"] == "use-model"]
    assert len(events) == switches + (1 if insist else 0)  # every switch of the model in use is a line
    if insist:
        assert events[-1]["still_knows_forgotten"] == ["Colin_Powell"]


def test_letting_them_back_in_is_explicit_and_audited(forgotten):
    forgotten.reinclude("Colin_Powell")
    assert forgotten.audit.entries()[0][-1]["event"] == "reinclude"
    forgotten.train("mobilefacenet", str(MOBILEFACENET), None)
    assert "Colin_Powell" in forgotten.checkpoint.classes and named(forgotten) == "Colin_Powell"


def test_the_command_line_honours_the_same_records(small_checkpoint, small_gallery, tmp_path):
    """unlearn records the request; train_face.py and predict then leave him out, until --reinclude."""
    people = Path(shutil.copytree(small_gallery, tmp_path / "people"))
    records = tmp_path / "records.db"
    env = {"FORGET_RECORDS": str(records), "FORGET_CACHE_DIR": str(tmp_path / "cache")}
    model = shutil.copy(small_checkpoint, tmp_path / "model.ckpt")
    forgot = run_python(
        "-m", "forget_desktop", "unlearn", "--model", str(model), "--data", str(people), "--forget",
        "Colin_Powell", "--out", str(tmp_path / "forgot.ckpt"), env=env,
    )  # fmt: skip
    assert forgot.returncode == 0, forgot.stderr
    listed = run_python("-m", "forget_desktop", "forgotten", env=env)
    request = json.loads(listed.stdout.splitlines()[0])
    assert request["people"] == ["Colin_Powell"] and request["photos_suppressed"] == 12
    assert request["model_after_sha256"] == sha256_file(tmp_path / "forgot.ckpt")
    # its certificate, in the format the extension names; the hashes are the model files'
    for suffix in (".json", ".html", ".pdf"):
        out = tmp_path / f"certificate{suffix}"
        written = run_python("-m", "forget_desktop", "certificate", str(request["id"]), "--out", str(out), env=env)
        assert written.returncode == 0, written.stderr
    certificate = json.loads((tmp_path / "certificate.json").read_text())
    assert certificate["models"]["before"]["sha256"] == sha256_file(model)
    assert certificate["models"]["after"]["sha256"] == sha256_file(tmp_path / "forgot.ckpt")
    assert certificate["identical_to_reference"] is True and certificate["audit"]["problems"] == []
    html = (tmp_path / "certificate.html").read_text()
    assert sha256_file(tmp_path / "forgot.ckpt") in html and "Colin Powell" in html
    assert (tmp_path / "certificate.pdf").read_bytes().startswith(b"%PDF")

    trained = run_python(
        "train/train_face.py", "--data", str(people), "--weights", str(MOBILEFACENET), "--out",
        str(tmp_path / "again.ckpt"), env=env,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "Left out 1 forgotten person's folder (12 photos)" in trained.stderr
    predicted = run_python("-m", "forget_desktop", "predict", "--model", str(tmp_path / "again.ckpt"), str(UNSEEN))
    assert json.loads(predicted.stdout)["faces"][0]["identity"] == UNKNOWN

    old = run_python("-m", "forget_desktop", "predict", "--model", str(model), str(UNSEEN), env=env)
    assert json.loads(old.stdout)["faces"][0]["identity"] == UNKNOWN  # a model that still knows him: Unknown
    assert "still recognises 1 forgotten person" in old.stderr

    back = run_python(
        "train/train_face.py", "--data", str(people), "--weights", str(MOBILEFACENET), "--out",
        str(tmp_path / "back.ckpt"), "--reinclude", "Colin_Powell", env=env,
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    predicted = run_python("-m", "forget_desktop", "predict", "--model", str(tmp_path / "back.ckpt"), str(UNSEEN))
    assert json.loads(predicted.stdout)["faces"][0]["identity"] == "Colin_Powell"


def name_variants(name: str) -> list[bytes]:
    """Every way a name could sit in a file's bytes."""
    texts = {name, name.replace("_", " "), name.split("_")[-1]}
    return [t.encode(codec) for t in texts for codec in ("utf-8", "utf-16-le", "utf-32-le")]


@pytest.mark.parametrize("hashed", [False, True])
def test_no_byte_of_an_unlearned_model_names_them(workspace, hashed):
    workspace.records.hash_names = hashed
    report = workspace.forget(["Tony_Blair"], None, {}, reference=True)
    path = Path(report.output_model)
    folder_files = [p for p in path.parent.iterdir() if p.is_file()]
    assert folder_files == [path]  # no sidecar beside it
    data = path.read_bytes()
    assert not [v for v in name_variants("Tony_Blair") if v in data]
    # the search finds a name that is there; in hashed-names mode the file names nobody at all
    assert (b"Colin_Powell" in data) != hashed
    # and it is shaped as if trained without him: one slot fewer, still identical to the retrain
    assert report.identical_to_reference and len(workspace.checkpoint.classes) == 3
    reopened = Workspace(CPU, workspace.cache, records=workspace.records)
    reopened.open_gallery(workspace.gallery_root)
    reopened.open_model(path)  # the folder of people gives the names back
    assert reopened.checkpoint.classes == ["Ariel_Sharon", "Colin_Powell", "Hugo_Chavez"]
    # the names are back: his photo's closest centre is his (the recalibrated threshold of a three-person
    # gallery may still call this one photo Unknown)
    assert chosen(reopened) == "Colin_Powell"

"""Awkward inputs through predict, training-data loading, unlearning and the window's file open:
one clear sentence each, no traceback, and the rest of the work goes on."""

import json
import shutil

import pytest
import torch

from conftest import LFW, MOBILEFACENET, copy_people, run_python, wait_idle
from corpus import EXPECTED, build_corpus
from forget_desktop.core.app.train_job import TrainRequest, train_model
from forget_desktop.core.data.dataset import Sample, scan_identities
from forget_desktop.core.data.gallery import LazyDetector
from forget_desktop.core.faces.crops import ARCFACE_112, CropCache, build_crop_set
from forget_desktop.core.unlearning.job import UnlearnRequest, unlearn_job

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"))


def test_corpus_is_what_the_issue_lists(corpus):
    assert len(corpus) == 11


def test_predict_on_every_case(corpus, small_checkpoint):
    result = run_python("-m", "forget_desktop", "predict", "--model", str(small_checkpoint), *map(str, corpus.values()))
    assert result.returncode == 0 and "Traceback" not in result.stderr
    records = {json.loads(line)["file"].split("/")[-1]: json.loads(line) for line in result.stdout.splitlines()}
    assert set(records) == set(EXPECTED)
    for name, expected in EXPECTED.items():
        record = records[name]
        if expected is None:
            assert record["error"] is None and len(record["faces"]) == 1, (name, record)
            assert record["faces"][0]["identity"] == "Ariel_Sharon", (name, record)
        else:
            assert record["error"].startswith(expected) and record["faces"] == [], (name, record)
            assert record["error"].count(". ") == 0 and record["error"].endswith((".", ")")), record["error"]


def test_training_data_loading_reports_each_bad_file(corpus, tmp_path):
    gallery = copy_people(tmp_path / "people", {"Colin_Powell": 6, "Tony_Blair": 6})
    person = gallery / "José_Müller"  # a non-ASCII identity holding the corpus
    person.mkdir()
    for name, path in corpus.items():
        target = person / name
        if path.is_symlink():
            target.symlink_to(path.readlink())
        else:
            shutil.copy(path, target)
    (gallery / "Nobody").mkdir()  # 0 images
    one = gallery / "Only_One"
    one.mkdir()
    shutil.copy(sorted((LFW / "Hugo_Chavez").iterdir())[0], one)  # 1 image
    split = scan_identities(gallery, min_images=5)
    assert split.classes == ["Colin_Powell", "José_Müller", "Tony_Blair"]
    assert split.skipped == {"Nobody": "0 images, needs 5", "Only_One": "1 image, needs 5"}
    everything = split.train + split.heldout
    crops, problems = build_crop_set(everything, ARCFACE_112, LazyDetector(), CropCache(tmp_path / "cache"))
    reasons = {p.path.split("/")[-1]: p.reason for p in problems}
    assert set(reasons) == {n for n, e in EXPECTED.items() if e is not None}
    for name, reason in reasons.items():
        assert reason.startswith(EXPECTED[name])
    assert len(crops) == len(everything) - len(reasons)
    assert all(isinstance(s, Sample) for s in everything)


def test_train_and_unlearn_go_on_past_bad_files(corpus, tmp_path):
    gallery = copy_people(tmp_path / "people", {"Colin_Powell": 8, "Tony_Blair": 8, "Hugo_Chavez": 8})
    for name, path in corpus.items():
        if not path.is_symlink():
            shutil.copy(path, gallery / "Hugo_Chavez" / name)
    out = tmp_path / "m.ckpt"
    result = train_model(TrainRequest(gallery, "mobilefacenet", out, str(MOBILEFACENET)), CPU)
    assert len(result.problems) == 3  # truncated, empty, text
    outcome = unlearn_job(
        UnlearnRequest(
            out, gallery, ["Hugo_Chavez"], None, {}, tmp_path / "u.ckpt", tmp_path / "r.json", reference=False
        ),
        CPU,
    )
    assert outcome.report.unlearned.forget_train_acc == 0.0 and outcome.report.identical_to_reference


def test_window_file_open_on_every_case(qtbot, make_window, corpus, small_checkpoint):
    window = make_window()
    window.models.open_model(small_checkpoint)
    wait_idle(qtbot, window)
    for name, expected in EXPECTED.items():
        window.banner.hide()
        window.recognise.frame_view.faces = []
        window.sources.open_files([str(corpus[name])])
        if expected is None:
            qtbot.waitUntil(lambda: len(window.recognise.frame_view.faces) == 1, timeout=60_000)
            assert window.recognise.status.text().startswith(f"{name}: 1 face"), name
        else:
            qtbot.waitUntil(window.banner.isVisible, timeout=30_000)
            assert window.banner.text().startswith(expected), (name, window.banner.text())
    assert window.isVisible()

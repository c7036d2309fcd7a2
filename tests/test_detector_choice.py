"""The face detector as a user chooses it in the window: the Train dialog offers both, YuNet first, and a
model trained on MTCNN's faces recognises with MTCNN."""

from __future__ import annotations

import shutil

from conftest import LFW, MOBILEFACENET, wait_idle


def test_the_train_dialog_offers_both_detectors_yunet_first(qtbot):
    from forget_desktop.ui.dialogs import TrainDialog

    dialog = TrainDialog("people")
    qtbot.addWidget(dialog)
    assert [dialog.detector.itemData(i) for i in range(dialog.detector.count())] == ["yunet", "mtcnn"]
    assert dialog.choice()[-1] == "yunet"
    dialog.detector.setCurrentIndex(1)
    assert dialog.choice() == ("mobilefacenet", dialog.weights.text().strip(), None, "embedding", "mtcnn")


def test_a_model_trained_in_the_window_on_mtcnn_faces_recognises_with_mtcnn(
    qtbot, make_window, small_gallery, tmp_path
):
    people = shutil.copytree(small_gallery, tmp_path / "people")
    window = make_window()
    window.models.open_data(people)
    wait_idle(qtbot, window)
    window.models.start_training("mobilefacenet", str(MOBILEFACENET), None, "embedding", "mtcnn")
    wait_idle(qtbot, window)
    checkpoint = window.workspace.checkpoint
    assert checkpoint is not None and window.banner.isHidden(), window.banner.text()
    assert checkpoint.crop.detector == "mtcnn"
    assert window.workspace.session.recogniser.detector.name == "mtcnn"
    window.sources.open_files([str(sorted((LFW / "Hugo_Chavez").iterdir())[-1])])  # a photo not in the gallery
    qtbot.waitUntil(lambda: bool(window.recognise.frame_view.faces), timeout=60_000)
    assert [f.top[0][0] for f in window.recognise.frame_view.faces] == ["Hugo_Chavez"]

"""A newcomer's first run, driven in the window against a loopback mirror that serves the real weights
and LFW photos from ../shared packed as the real archive is: one click to a recognised photo, a failed
download that resumes on the next click, and cancel."""

import json

import pytest

from conftest import on_gui_thread, wait_idle
from forget_desktop.core.common import downloads
from mirror import Mirror, mirror_path, real_files

PEOPLE = {"Hugo_Chavez": 20, "Tony_Blair": 20, "Colin_Powell": 20}


@pytest.fixture
def newcomer(tmp_path, monkeypatch):
    """A machine with nothing downloaded, and a mirror that serves what Get started fetches."""
    files, manifest = real_files(PEOPLE)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv(downloads.MANIFEST_ENV, str(tmp_path / "manifest.json"))
    monkeypatch.setenv("FORGET_MOBILEFACENET_WEIGHTS", str(tmp_path / "home" / "models" / "mobilefacenet.pt"))
    monkeypatch.setenv("FORGET_DATA_DIR", str(tmp_path / "home"))
    with Mirror(files) as mirror:
        monkeypatch.setenv(downloads.MIRROR_ENV, mirror.url)
        yield mirror


def test_get_started_resumes_after_a_failure_and_lands_on_a_recognised_photo(qtbot, make_window, newcomer):
    window = make_window()
    assert window.pages.currentWidget() is window.welcome and window.identities_dock.isHidden()
    newcomer.cut.add(mirror_path("lfw"))  # the first try loses its connection halfway through LFW
    window.welcome.start_button.click()
    wait_idle(qtbot, window)
    assert window.pages.currentWidget() is window.welcome
    assert "it will go on from there next time" in window.welcome.message.text()
    assert window.welcome.message.text().endswith("Press Get started again to go on from where it stopped.")
    assert window.welcome.start_button.isEnabled()

    shown = []  # (message, time left) as the window would show them
    window.worker.job_progress.connect(lambda _job, status: shown.append((status.message, status.seconds_left)))
    window.welcome.start_button.click()
    wait_idle(qtbot, window, 600_000)
    assert window.banner.isHidden(), window.banner.text()
    # Time left comes from this machine's rates for every stage, from the start: before LFW is unpacked it
    # plans for the real archive (3,023 photos); once the faces of this 48-photo one are being found, the
    # plan is revised to them and the time left falls at least tenfold.
    faces = next(i for i, (m, _) in enumerate(shown) if m.startswith("Finding faces"))
    planned = [left for _, left in shown[:faces] if left is not None]
    assert planned and shown[faces][1] is not None, shown[: faces + 1]
    assert shown[faces][1] < max(planned) / 10, shown[: faces + 1]
    requests = [(path.rsplit("/", 1)[-1], header) for path, header in newcomer.requests]
    assert requests[0] == ("mobilefacenet.pt", None) and requests.count(("mobilefacenet.pt", None)) == 1
    assert requests[1][0] == "5976015" and requests[1][1] is None
    assert requests[2][0] == "5976015" and requests[2][1].startswith("bytes=")  # resumed, not restarted
    assert window.pages.currentWidget() is window.tabs and window.tabs.currentWidget() is window.recognise
    assert window.identities_dock.isVisible() and window.identities.model.rowCount() == 3
    assert window.view.model is not None and window.view.model.kind == "embedding"
    qtbot.waitUntil(lambda: bool(window.recognise.frame_view.faces), timeout=60_000)
    face = window.recognise.frame_view.faces[0]
    assert face.identity == face.top[0][0] and face.identity in PEOPLE  # a known person, named
    assert window.workspace.in_use()["model"] == str(window.view.model.path)


def test_get_started_can_be_cancelled_and_changes_nothing(qtbot, make_window, newcomer):
    window = make_window()
    under_way = lambda _job, status: status.fraction > 0  # noqa: E731
    progress = on_gui_thread(window.worker.job_progress)
    with qtbot.waitSignal(progress.fired, timeout=60_000, check_params_cb=lambda args: under_way(*args)):
        window.welcome.start_button.click()
    window.welcome.cancel_button.click()
    wait_idle(qtbot, window)
    assert window.welcome.message.text().startswith("Cancelled.")
    assert window.pages.currentWidget() is window.welcome and window.view.model is None
    assert window.workspace.in_use() == {}


def test_the_train_dialog_downloads_missing_weights(qtbot, make_window, newcomer, small_gallery):
    from forget_desktop.ui.dialogs import TrainDialog

    window = make_window()
    window.models.open_data(small_gallery)
    wait_idle(qtbot, window)
    dialog = TrainDialog(str(small_gallery), window)
    dialog.download_requested.connect(lambda item: window.models.download_weights(item, dialog))
    ok = dialog.buttons.buttons()[0]
    assert dialog.weights_status.text().startswith("<b>Not on this computer yet.</b>") and not ok.isEnabled()
    assert not dialog.download.isHidden() and dialog.download.text() == "Download (4 MB)"
    assert "MS-Celeb-1M" in dialog.weights_status.text()  # the terms, where the user chooses the weights
    dialog.download.click()
    wait_idle(qtbot, window)
    assert dialog.weights_status.text().startswith("Found.") and ok.isEnabled() and dialog.download.isHidden()
    dialog.reject()

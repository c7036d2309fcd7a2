"""Downloads, run for real against an HTTP server on 127.0.0.1 that serves the real bytes (the mirror):
checksums, a missing file, a body cut short, cancel, resume, unpacking LFW, and one sentence offline."""

import hashlib
import json
import socket
import threading

import pytest

from conftest import MOBILEFACENET, run_python
from forget_desktop.core.common import downloads
from forget_desktop.core.common.errors import Cancelled, ForgetError
from forget_desktop.core.common.jobs import Progress
from mirror import Mirror, mirror_path, real_files

WEIGHTS_SHA = "90a00ba1d8b0b688af3deb731ed53dca582e6106805d1bc3cfdef55f570493f4"
THREE_PEOPLE = {"Hugo_Chavez": 20, "Tony_Blair": 20, "Colin_Powell": 20}


def is_offline(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
        return False
    except OSError:
        return True


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A home for downloads: nothing there yet."""
    monkeypatch.setenv("FORGET_MOBILEFACENET_WEIGHTS", str(tmp_path / "weights" / "mobilefacenet.pt"))
    monkeypatch.setenv("FORGET_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_the_pinned_mobilefacenet_download_is_the_file_in_shared():
    item = downloads.ITEMS["mobilefacenet"]
    assert item.sha256 == WEIGHTS_SHA == hashlib.sha256(MOBILEFACENET.read_bytes()).hexdigest()
    assert item.bytes == MOBILEFACENET.stat().st_size == 4_135_271
    assert "a6cc9032a659b615f477833e1a70b5e7931bcccc/weights/mobilefacenet.pt" in item.url


def test_weights_download_through_the_mirror_checks_the_sha256(fresh, monkeypatch):
    files, _ = real_files()
    with Mirror(files) as mirror:
        monkeypatch.setenv(downloads.MIRROR_ENV, mirror.url)
        seen = []
        path = downloads.download_weights("mobilefacenet", Progress(lambda f, m: seen.append((f, m))))
    assert path == fresh / "weights" / "mobilefacenet.pt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == WEIGHTS_SHA
    assert mirror.requests == [(mirror_path("mobilefacenet"), None)]
    assert seen[-1] == (1.0, "Downloaded the MobileFaceNet weights (4 MB)")
    assert any(m.startswith("Downloading the MobileFaceNet weights (4 MB): ") for _, m in seen)
    assert sorted(p.name for p in path.parent.iterdir()) == ["mobilefacenet.pt"]


def test_wrong_bytes_are_refused_and_nothing_is_written(fresh, monkeypatch):
    with Mirror({mirror_path("mobilefacenet"): b"not the weights" * 1000}) as mirror:
        monkeypatch.setenv(downloads.MIRROR_ENV, mirror.url)
        with pytest.raises(ForgetError) as caught:
            downloads.download_weights("mobilefacenet")
    assert str(caught.value) == (
        "The download of the MobileFaceNet weights (4 MB) is corrupt (its checksum does not "
        "match); nothing was written."
    )
    assert list((fresh / "weights").iterdir()) == []


def test_a_missing_file_is_one_sentence(fresh, monkeypatch):
    with Mirror({}) as mirror:
        monkeypatch.setenv(downloads.MIRROR_ENV, mirror.url)
        with pytest.raises(ForgetError) as caught:
            downloads.download_weights("mobilefacenet")
    assert str(caught.value) == (
        "Could not download the MobileFaceNet weights (4 MB): 127.0.0.1 answered HTTP 404; nothing was written."
    )


def test_a_body_cut_short_is_resumed_where_it_stopped(fresh, monkeypatch):
    files, _ = real_files()
    with Mirror(files) as mirror:
        monkeypatch.setenv(downloads.MIRROR_ENV, mirror.url)
        mirror.cut.add(mirror_path("mobilefacenet"))
        with pytest.raises(ForgetError) as caught:
            downloads.download_weights("mobilefacenet")
        assert str(caught.value) == (
            "The download of the MobileFaceNet weights (4 MB) stopped early (2,067,635 of "
            "4,135,271 bytes); it will go on from there next time."
        )
        assert not (fresh / "weights" / "mobilefacenet.pt").exists()
        path = downloads.download_weights("mobilefacenet")
    assert mirror.requests[-1] == (mirror_path("mobilefacenet"), "bytes=2067635-")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == WEIGHTS_SHA


def test_cancel_mid_download_stops_and_writes_nothing(fresh, monkeypatch, tmp_path):
    files, _ = real_files()
    progress = Progress(lambda fraction, message: fraction > 0 and progress.cancel())
    with Mirror(files) as mirror:
        monkeypatch.setenv(downloads.MIRROR_ENV, mirror.url)
        with pytest.raises(Cancelled):
            downloads.download_file(
                downloads.ITEMS["mobilefacenet"].url, tmp_path / "out" / "w.pt", what="weights", progress=progress
            )
    assert list((tmp_path / "out").iterdir()) == []


def test_lfw_is_downloaded_and_unpacked_as_one_folder_per_person(fresh, monkeypatch, tmp_path):
    files, manifest = real_files({**THREE_PEOPLE, "Laura_Bush": 5})  # too few photos: left out
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv(downloads.MANIFEST_ENV, str(tmp_path / "manifest.json"))
    with Mirror(files) as mirror:
        monkeypatch.setenv(downloads.MIRROR_ENV, mirror.url)
        dest = downloads.download_lfw_people(tmp_path / "lfw")
    assert sorted(p.name for p in dest.iterdir()) == sorted(THREE_PEOPLE)
    assert len(list((dest / "Tony_Blair").iterdir())) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "lfw", "manifest.json"]  # no archive, no temporary
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["rates.json"]  # how fast it went, for the next time


def test_lfw_checksum_is_pinned_unless_a_manifest_says_otherwise(fresh, monkeypatch, tmp_path):
    files, _ = real_files(THREE_PEOPLE)
    with Mirror(files) as mirror:
        monkeypatch.setenv(downloads.MIRROR_ENV, mirror.url)
        with pytest.raises(ForgetError, match="is corrupt"):  # the packed subset is not the real archive
            downloads.download_lfw_people(tmp_path / "lfw")
    assert not (tmp_path / "lfw").exists()


def test_unreachable_host_is_one_sentence_and_writes_nothing(tmp_path):
    with pytest.raises(ForgetError) as caught:
        downloads.download_file("https://forget-desktop.invalid/w.pt", tmp_path / "w.pt", what="the weights")
    assert str(caught.value) == (
        "Could not download the weights: forget-desktop.invalid cannot be reached "
        "(no internet connection?); nothing was written."
    )
    assert list(tmp_path.iterdir()) == []


def test_a_closed_mirror_port_is_one_sentence(tmp_path, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    monkeypatch.setenv(downloads.MIRROR_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(ForgetError) as caught:
        downloads.download_file(downloads.ITEMS["mobilefacenet"].url, tmp_path / "w.pt", what="the weights")
    assert str(caught.value) == "Could not download the weights: 127.0.0.1 refused the connection; nothing was written."


def test_existing_nonempty_destination_is_refused(tmp_path):
    (tmp_path / "lfw").mkdir()
    (tmp_path / "lfw" / "keep.txt").write_text("mine")
    with pytest.raises(ForgetError, match="not empty"):
        downloads.download_lfw_people(tmp_path / "lfw")
    assert (tmp_path / "lfw" / "keep.txt").read_text() == "mine"


def test_gdrive_folder_needs_an_id(tmp_path, monkeypatch):
    monkeypatch.delenv(downloads.GDRIVE_FOLDER_ENV, raising=False)
    with pytest.raises(ForgetError, match="No Google Drive folder id is set"):
        downloads.download_gdrive_folder(None, tmp_path / "dl")
    if is_offline("drive.google.com"):
        with pytest.raises(ForgetError) as caught:
            downloads.download_gdrive_folder("1AbCdEfGhIjKlMnOpQrStUvWxYz", tmp_path / "dl")
        assert str(caught.value) == (
            "Could not download the Google Drive folder 1AbCdEfGhIjKlMnOpQrStUvWxYz: "
            "drive.google.com cannot be reached (no internet connection?); nothing was written."
        )
    assert not (tmp_path / "dl").exists() or list((tmp_path / "dl").rglob("*")) == []


def test_download_command_lists_and_fetches_through_the_mirror(tmp_path):
    listed = run_python("-m", "forget_desktop", "download", "--list")
    assert listed.returncode == 0
    items = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [i["name"] for i in items] == ["mobilefacenet", "vggface2", "lfw"]
    assert all(set(i) == {"name", "url", "sha256", "bytes"} for i in items)
    files, _ = real_files()
    dest = tmp_path / "w" / "mobilefacenet.pt"
    with Mirror(files) as mirror:
        result = run_python(
            "-m",
            "forget_desktop",
            "download",
            "mobilefacenet",
            env={"FORGET_DOWNLOAD_MIRROR": mirror.url, "FORGET_MOBILEFACENET_WEIGHTS": str(dest)},
        )
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.strip() == str(dest) and hashlib.sha256(dest.read_bytes()).hexdigest() == WEIGHTS_SHA
    if is_offline("github.com"):
        offline = run_python("-m", "forget_desktop", "download", "vggface2")
        assert offline.returncode == 2
        assert offline.stderr.strip().splitlines()[-1] == (
            "error: Could not download the VGGFace2 weights (107 MB): github.com cannot be reached "
            "(no internet connection?); nothing was written."
        )


def test_downloads_run_off_the_calling_thread_and_can_be_cancelled_from_another(fresh, monkeypatch):
    """What the window does: the ML thread downloads, the GUI thread cancels."""
    files, _ = real_files()
    progress, errors = Progress(), []

    def job():
        try:
            downloads.download_weights("mobilefacenet", progress)
        except Cancelled as error:
            errors.append(error)

    with Mirror(files) as mirror:
        monkeypatch.setenv(downloads.MIRROR_ENV, mirror.url)
        progress.cancel()
        thread = threading.Thread(target=job)
        thread.start()
        thread.join(30)
    assert errors and not (fresh / "weights" / "mobilefacenet.pt").exists()

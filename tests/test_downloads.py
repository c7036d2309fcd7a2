"""Downloads: progress, checksum, all-or-nothing files, and one clear sentence when offline."""

import hashlib
import socket

import pytest

from forget_desktop.core import downloads
from forget_desktop.core.errors import ForgetError
from forget_desktop.core.jobs import Progress
from forget_desktop.core.paths import torch_checkpoints_dir


def is_offline(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
        return False
    except OSError:
        return True


def test_local_download_reports_progress_and_checks_the_sha256(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 300_000)
    seen = []
    dest = downloads.download_file(source.as_uri(), tmp_path / "out" / "w.bin", what="test weights",
                                   sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
                                   progress=Progress(lambda f, m: seen.append((f, m))))
    assert dest.read_bytes() == source.read_bytes()
    assert seen[-1] == (1.0, "Downloaded test weights")
    with pytest.raises(ForgetError, match="corrupt"):
        downloads.download_file(source.as_uri(), tmp_path / "out" / "bad.bin", what="x", sha256="0" * 64)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["w.bin"]


def test_unreachable_host_is_one_sentence_and_writes_nothing(tmp_path):
    with pytest.raises(ForgetError) as caught:
        downloads.download_file("https://forget-desktop.invalid/w.pt", tmp_path / "w.pt", what="the weights")
    assert str(caught.value) == ("Could not download the weights: forget-desktop.invalid cannot be reached "
                                 "(no internet connection?); nothing was written.")
    assert list(tmp_path.iterdir()) == []


def test_lfw_download_offline_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(downloads.MIRROR_ENV, "https://forget-desktop.invalid")
    with pytest.raises(ForgetError, match="Could not download LFW .*forget-desktop.invalid cannot be reached"):
        downloads.download_lfw_people(tmp_path / "lfw")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not is_offline("ndownloader.figshare.com"), reason="only meaningful offline")
def test_real_lfw_and_vggface2_routes_fail_fast_offline(tmp_path):
    with pytest.raises(ForgetError, match="ndownloader.figshare.com cannot be reached"):
        downloads.download_lfw_people(tmp_path / "lfw")
    with pytest.raises(ForgetError, match="github.com cannot be reached"):
        downloads.download_weights("vggface2")
    assert list(tmp_path.iterdir()) == []
    assert not torch_checkpoints_dir().exists() or list(torch_checkpoints_dir().iterdir()) == []


def test_existing_nonempty_destination_is_refused(tmp_path):
    (tmp_path / "lfw").mkdir()
    (tmp_path / "lfw" / "keep.txt").write_text("mine")
    with pytest.raises(ForgetError, match="not empty"):
        downloads.download_lfw_people(tmp_path / "lfw")
    assert (tmp_path / "lfw" / "keep.txt").read_text() == "mine"


def test_gdrive_folder_needs_an_id_and_fails_offline_cleanly(tmp_path, monkeypatch):
    monkeypatch.delenv(downloads.GDRIVE_FOLDER_ENV, raising=False)
    with pytest.raises(ForgetError, match="No Google Drive folder id is set"):
        downloads.download_gdrive_folder(None, tmp_path / "dl")
    if is_offline("drive.google.com"):
        with pytest.raises(ForgetError) as caught:
            downloads.download_gdrive_folder("1AbCdEfGhIjKlMnOpQrStUvWxYz", tmp_path / "dl")
        assert str(caught.value) == ("Could not download the Google Drive folder 1AbCdEfGhIjKlMnOpQrStUvWxYz: "
                                     "drive.google.com cannot be reached (no internet connection?); nothing was written.")
    assert not (tmp_path / "dl").exists() or list((tmp_path / "dl").rglob("*")) == []


def test_download_command_offline_is_one_sentence(tmp_path):
    from conftest import run_python

    if not is_offline("github.com"):
        pytest.skip("only meaningful offline")
    result = run_python("-m", "forget_desktop", "download", "vggface2")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: Could not download the VGGFace2 weights (107 MB): github.com cannot be reached "
        "(no internet connection?); nothing was written.")

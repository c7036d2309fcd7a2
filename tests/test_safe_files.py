"""Model files that must be refused, and no half-written file after a kill or a full disk."""

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, copy_people
from forget_desktop.core.common import atomic
from forget_desktop.core.common.atomic import clean_stale_temporaries, sha256_file
from forget_desktop.core.common.errors import ForgetError
from forget_desktop.core.model.checkpoint import load_checkpoint, make_meta, save_checkpoint
from forget_desktop.core.model.models import FaceClassifier
from forget_desktop.core.records.store import Records
from forget_desktop.core.unlearning.job import UnlearnRequest, unlearn_job

CPU = torch.device("cpu")


def test_checkpoint_for_other_people_is_refused(small_checkpoint, tmp_path):
    other = copy_people(tmp_path / "other", {"George_W_Bush": 6, "Laura_Bush": 6})
    with pytest.raises(ForgetError) as caught:
        unlearn_job(
            UnlearnRequest(
                small_checkpoint,
                other,
                ["Tony_Blair"],
                "salun",
                {},
                tmp_path / "o.ckpt",
                tmp_path / "r.json",
                reference=False,
            ),
            CPU,
        )
    assert str(caught.value) == (
        "The data folder does not match the model: 4 of its people are missing "
        "(Ariel_Sharon, Colin_Powell, Hugo_Chavez, …)."
    )
    assert not (tmp_path / "o.ckpt").exists()


def test_checkpoint_whose_weights_are_another_backbone_is_refused(tmp_path):
    facenet = FaceClassifier("mnist-cnn", 3)
    meta = make_meta(facenet, ["a", "b", "c"], split={}, start={}, recipe={}, metrics={})
    meta["backbone"] = "mobilefacenet"  # claims one architecture, holds another
    path = save_checkpoint(facenet, meta, tmp_path / "liar.ckpt")
    with pytest.raises(ForgetError, match="is inconsistent: its weights do not fit a mobilefacenet model"):
        load_checkpoint(path)


SAVE_LOOP = """
import os, sys, time
from forget_desktop.core.common import atomic
from forget_desktop.core.records.store import Records
from forget_desktop.core.model.checkpoint import make_meta, save_checkpoint
from forget_desktop.core.model.models import FaceClassifier
real_fsync = atomic.os.fsync

def fsync_then_wait(fd):  # a save's data is written, not yet renamed: say so, and linger there
    real_fsync(fd)
    if not os.path.isdir(f"/proc/self/fd/{fd}") and os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
        print("inside", atomic_saves[0], flush=True)
        time.sleep(0.5)

atomic_saves = [0]
atomic.os.fsync = fsync_then_wait
model = FaceClassifier("facenet-scratch", 62)
while True:
    atomic_saves[0] += 1
    meta = make_meta(model, [str(i) for i in range(62)], split={}, start={}, recipe={}, metrics={},
                     extra={"save": atomic_saves[0]})
    save_checkpoint(model, meta, sys.argv[1])
"""


def test_a_kill_inside_the_save_leaves_the_previous_file_whole(tmp_path):
    target = tmp_path / "new.ckpt"
    for round, kill_in_save in enumerate((1, 3), start=1):
        target.unlink(missing_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-c", SAVE_LOOP, str(target)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for line in process.stdout:
            if line.split() == ["inside", str(kill_in_save)]:
                break  # the process is provably inside save number kill_in_save: data written, not renamed
        process.send_signal(signal.SIGKILL)
        process.wait()
        if kill_in_save == 1:
            assert not target.exists()  # the first save never finished: no file, not half a file
        else:
            assert load_checkpoint(target).meta["save"] == kill_in_save - 1  # the previous save, whole
        leftovers = list(tmp_path.glob(".new.ckpt.*.tmp"))
        assert len(leftovers) == round  # each interrupted save's temporary file, which the next start removes
    old = time.time() - 7200
    for leftover in tmp_path.glob(".*.tmp"):
        os.utime(leftover, (old, old))
    clean_stale_temporaries(tmp_path)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("point", ["forget:model-saved", "forget:committed"])
def test_a_kill_inside_unlearn_is_where_it_was_aimed_and_leaves_the_records_whole(
    point, small_checkpoint, small_gallery, tmp_path
):
    """The command line's forget, killed (SIGKILL) just before or just after its commit: the input model
    is untouched, and the output exists exactly when the records list the request."""
    before = sha256_file(small_checkpoint)
    out, records = tmp_path / "out.ckpt", tmp_path / "records.db"
    log = tmp_path / "crash.log"
    env = {**os.environ, "FORGET_RECORDS": str(records), "FORGET_CRASH_AT": point, "FORGET_CRASH_LOG": str(log)}
    process = subprocess.run(
        [sys.executable, "-m", "forget_desktop", "unlearn", "--model", str(small_checkpoint), "--data",
         str(small_gallery), "--forget", "Tony_Blair", "--no-reference", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert process.returncode == -signal.SIGKILL and log.read_text().split() == [point], process.stderr[-2000:]
    assert sha256_file(small_checkpoint) == before
    reopened = Records(records)  # the next start of any entry point finishes or undoes what was owed
    requests = reopened.requests.all()
    if point == "forget:model-saved":
        assert requests == [] and not out.exists()
    else:
        (request,) = requests
        assert out.is_file() and sha256_file(out) == request.model_after_sha256
        assert load_checkpoint(out).classes == ["Ariel_Sharon", "Colin_Powell", "Hugo_Chavez"]


def test_full_disk_on_save_changes_nothing(small_checkpoint, tmp_path, monkeypatch):
    checkpoint = load_checkpoint(small_checkpoint)
    target = tmp_path / "copy.ckpt"
    save_checkpoint(checkpoint.model, checkpoint.meta, target)
    before = target.read_bytes()

    def no_space(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(ForgetError) as caught:
        save_checkpoint(checkpoint.model, {**checkpoint.meta, "threshold": 0.1}, target)
    assert str(caught.value) == "The disk is full: copy.ckpt was not saved and nothing was changed."
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.ckpt"]

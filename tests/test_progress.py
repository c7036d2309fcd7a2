"""Progress a user can trust: one fraction for the whole job that never goes back, weighted by what each
stage costs (the reference retrain included), and a time left that never leaps up."""

import pytest
import torch

from forget_desktop.core.common.jobs import Progress, TimeLeft, duration, left_note, short_seconds
from forget_desktop.core.unlearning.job import UnlearnRequest, unlearn_job

CPU = torch.device("cpu")


def test_a_forget_job_with_its_reference_reports_one_honest_fraction(
    small_finetuned, small_gallery, tmp_path, monkeypatch
):
    # a machine that has measured nothing yet: the layout a new user's first forget gets (the session's shared rates,
    # kept by whichever tests ran before on this tiny model, made the outcome depend on their order and timing)
    monkeypatch.setenv("FORGET_RATES", str(tmp_path / "rates.json"))
    seen = []
    request = UnlearnRequest(small_finetuned, small_gallery, ["Hugo_Chavez"], "salun", {}, None, None, reference=True)
    unlearn_job(request, CPU, Progress(lambda fraction, message: seen.append((fraction, message))))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    salun = [f for f, m in seen if m.startswith("SalUn")]
    retrain = [f for f, m in seen if m.startswith("Epoch")]
    # retraining the reference costs more than SalUn, and the bar says so (it is not squeezed into the end)
    assert retrain[-1] - retrain[0] > salun[-1] - salun[0] and 1.0 - retrain[0] >= 0.3, (salun, retrain)


def test_the_windows_forget_job_reports_one_fraction_from_loading_to_commit(workspace):
    """What the window runs (loading the gallery's faces, then the job, then the commit) is one bar."""
    seen = []
    workspace.forget(
        ["Hugo_Chavez"], None, {}, True, Progress(lambda fraction, message: seen.append((fraction, message)))
    )
    fractions = [f for f, _ in seen]
    assert any(m.startswith("Embedded") for _, m in seen)  # the gallery's faces were loaded inside the job
    assert fractions == sorted(fractions) and fractions[-1] == 1.0, seen


def test_writing_new_embeddings_to_the_cache_moves_the_bar(small_checkpoint, small_gallery, tmp_path):
    """Embeddings are written to the cache one file each after they are computed: the bar keeps moving
    through the writing instead of waiting just short of the stage's end (a pause the time left missed)."""
    from forget_desktop.core.data.gallery import gallery_for_checkpoint
    from forget_desktop.core.faces.crops import CropCache, CropSpec
    from forget_desktop.core.model.checkpoint import load_checkpoint
    from forget_desktop.core.model.embeddings import embed_set

    checkpoint, cache = load_checkpoint(small_checkpoint), CropCache(tmp_path / "cache")
    model, spec = checkpoint.model, CropSpec.from_dict(checkpoint.meta["crop"])
    train = gallery_for_checkpoint(checkpoint.meta, small_gallery, spec, cache).train
    seen = []
    embed_set(model, train, CPU, cache, Progress(lambda fraction, message: seen.append((fraction, message))))
    writing = [f for f, m in seen if m.startswith("Keeping embeddings")]
    computing = [f for f, m in seen if m.startswith("Embedding faces")]
    assert writing and computing[-1] < writing[0] < 1.0
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
    assert cache.count(train.spec, model.backbone_name) == len(train)  # and they were written


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_time_left_never_leaps_up_by_more_than_the_time_that_passed():
    clock = Clock()
    left = TimeLeft(clock)
    clock.now = 10.0
    assert left(0.5) == 10.0  # half done in 10 s: 10 s left
    clock.now = 12.0
    assert left(0.1) == 12.0  # the work turned out bigger (raw 108 s): shown rising only by the 2 s that passed
    clock.now = 20.0
    assert left(0.8) == pytest.approx(5.0)  # and falling as fast as the work allows
    clock.now = 20.5
    assert TimeLeft(clock)(0.5) is None  # nothing to go on yet


def test_stages_split_the_bar_by_their_costs():
    seen = []
    first, second, third = Progress(lambda f, m: seen.append(round(f, 3))).stages(1, 3, 0)
    first(1.0)
    second(0.5)
    second(1.0)
    third(1.0)
    assert seen == [0.25, 0.625, 1.0, 1.0]


def test_a_step_can_restart_the_time_left_or_hold_it_back():
    restarts = []
    progress = Progress(estimate_hook=restarts.append)
    download, faces = progress.stages(1, 3)
    download.estimate_time(False)
    faces.sub(0.0, 0.5).estimate_time(True)
    assert restarts == [None, 0.25]
    clock = Clock()
    held = TimeLeft(clock, since=None)
    clock.now = 10.0
    assert held(0.9) is None
    left = TimeLeft(clock, since=0.25)  # started at t=10, a quarter of the job already done
    clock.now = 20.0
    assert left(0.5) == pytest.approx(20.0)  # 10 s for a quarter: 20 s for the half that is left


def test_a_duration_reads_as_a_person_would_say_it():
    assert [duration(s) for s in (0.3, 0.6, 4.4, 89, 150, 5400, 5700)] == [
        "1 s",
        "1 s",
        "4 s",
        "89 s",
        "2 min",
        "1 h 30 min",
        "1 h 35 min",
    ]
    assert left_note(0.2) == " (about 1 s left)" and left_note(0.0) == "" and left_note(None) == ""
    assert [short_seconds(s) for s in (0.0024, 0.083, 3.94)] == ["under 0.01 s", "0.08 s", "3.9 s"]

"""The per-photo membership test (LiRA with shadow heads) on real faces: shadows are trained as the model is,
every photo has IN and OUT shadows, a head is more confident on the photos it was fitted on, and every forget
report — people or photos — carries the test for the original, the unlearned model and the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from forget_desktop.core.common.jobs import Progress
from forget_desktop.core.common.plan import stages_of
from forget_desktop.core.common.rates import Rates
from forget_desktop.core.faces.crops import CropCache
from forget_desktop.core.model.checkpoint import load_checkpoint
from forget_desktop.core.model.embeddings import learned_view
from forget_desktop.core.model.heads import CentroidHead, fit_centroid_head
from forget_desktop.core.unlearning.job import UnlearnRequest, load_training_sets, unlearn_job
from forget_desktop.core.unlearning.lira import (
    SHADOWS,
    centroid_shadows,
    confidence,
    lira_parts,
    memberships,
    population,
    shadow_stats,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def embedded(small_checkpoint, small_gallery):
    checkpoint = load_checkpoint(small_checkpoint)
    cache = CropCache()
    crops = load_training_sets(checkpoint.meta, small_gallery, cache)
    _, train, heldout = learned_view(checkpoint.model, *crops, CPU, cache)
    return checkpoint, train, heldout


def test_confidence_is_the_logit_of_the_true_persons_probability():
    logits = torch.tensor([[4.0, 1.0, -2.0], [0.5, 0.4, 3.0], [-30.0, 10.0, 9.0]])
    labels = torch.tensor([0, 1, 0])
    p = F.softmax(logits.double(), 1).gather(1, labels.view(-1, 1)).squeeze(1)
    expected = torch.log(p) - torch.log1p(-p)
    assert np.allclose(confidence(logits, labels), expected.numpy(), rtol=1e-9, atol=1e-9)


def test_each_photo_is_in_half_of_the_shadows():
    member = memberships(200, SHADOWS, seed=3)
    assert member.shape == (SHADOWS, 200) and (member.sum(0) == SHADOWS // 2).all()
    assert not torch.equal(member, memberships(200, SHADOWS, seed=4))


def test_a_shadow_with_every_photo_is_the_model_head(embedded):
    """Shadows are trained as the embedding model is: fitted on all its training photos, a shadow gives the
    model's own confidence on every photo."""
    checkpoint, train, heldout = embedded
    head = CentroidHead(train.images.shape[1], len(checkpoint.classes))
    fit_centroid_head(head, train.images, train.labels)
    features, labels, _ = population(train, heldout)
    member = torch.zeros(1, len(labels), dtype=torch.bool)
    member[0, : len(train)] = True
    shadow = centroid_shadows(features, labels, len(checkpoint.classes), member, Progress())[0]
    with torch.no_grad():
        own = confidence(head(features), labels)
    assert np.allclose(shadow, own, atol=1e-4)


def test_a_head_is_more_confident_on_the_photos_it_was_fitted_on(embedded):
    checkpoint, train, heldout = embedded
    features, labels, digests = population(train, heldout)
    stats = shadow_stats(features, labels, digests, len(checkpoint.classes), "centroid", SHADOWS, seed=0)
    assert (stats.count_in == SHADOWS // 2).all() and (stats.count_out == SHADOWS // 2).all()
    assert (stats.mean_in > stats.mean_out).mean() >= 0.95
    assert stats.std > 0 and len(stats.index) == len(labels)


def test_a_people_report_carries_the_per_photo_test(small_checkpoint, small_gallery):
    request = UnlearnRequest(small_checkpoint, small_gallery, ["Tony_Blair"])
    report = unlearn_job(request, CPU, cache=CropCache()).report
    mia = report.per_photo_mia
    assert report.scope == "people" and mia["shadows"] == SHADOWS and mia["against"] == "their own held-out photos"
    assert mia["forgotten_photos"] == len(mia["photos"]) > 0
    # exact: the unlearned model is the reference, photo by photo; before, membership showed
    assert mia["unlearned"] == mia["reference"] < mia["original"]
    assert [p["unlearned"] for p in mia["photos"]] == [p["reference"] for p in mia["photos"]]
    assert report.to_dict()["per_photo_mia"]["original"] == mia["original"]
    assert "per_photo_mia" in report.to_dict() and report.from_dict(report.to_dict()).per_photo_mia == mia


def test_a_fine_tuned_models_test_times_its_features_and_its_shadow_heads_apart(
    small_finetuned, small_gallery, tmp_path, monkeypatch
):
    """eta_bench: the bar gave the features 30 % of the test and the shadow heads 70 %, but the features were
    read back in half a second and the heads took 12 s, so the job's last seconds were +30 % off. Each is now a
    stage measured on its own, and the next job foresees the starting point's embeddings read back."""
    monkeypatch.setenv("FORGET_RATES", str(tmp_path / "rates.json"))
    cache = CropCache(tmp_path / "cache")
    checkpoint = load_checkpoint(small_finetuned)
    train, heldout = load_training_sets(checkpoint.meta, small_gallery, cache)
    photos = len(train) + len(heldout)

    def features() -> dict[str, float]:
        parts = lira_parts(checkpoint, photos, train.spec, cache, CPU)
        return {stage.kind: stage.units for stage in stages_of(parts[0])}

    assert features() == {"read-embeddings": 0, "embed": photos, "keep-embeddings": photos}
    request = UnlearnRequest(small_finetuned, small_gallery, ["Tony_Blair"], reference=False)
    report = unlearn_job(request, CPU, cache=cache).report
    assert report.per_photo_mia["forgotten_photos"] > 0
    assert features() == {"read-embeddings": photos, "embed": 0, "keep-embeddings": 0}
    assert {"embed|cpu", "shadows-finetuned|cpu"} <= set(Rates().known())


def test_an_evaluations_bar_moves_with_the_photos_it_scores(embedded):
    """eta_bench: the original's evaluation gave each of its four sets a quarter of 60 % of its bar and 40 % to
    a relearn test that ends at once for it, so its bar stood at 58 % with a tenth of its time left."""
    from forget_desktop.core.model.training import Recipe
    from forget_desktop.core.unlearning.evaluation import ForgetSplits, evaluate, evaluation_work

    checkpoint, train, heldout = embedded
    model, train, heldout = learned_view(checkpoint.model, train, heldout, CPU)
    splits = ForgetSplits.from_sets(train, heldout, checkpoint.classes, [0])
    recipe = Recipe.from_dict(checkpoint.meta["recipe"])
    for expected in (0, 10):
        starts = {}
        progress = Progress(lambda f, m, starts=starts: starts.setdefault(m, f))
        evaluate(model, splits, recipe, CPU, progress=progress, relearn_steps_expected=expected)
        scoring, relearning = evaluation_work(splits, expected)
        sizes = [len(splits.forget_train), len(splits.forget_test), len(splits.sample_retain_train(1000, 0))]
        scored = scoring / (scoring + relearning)
        assert starts["Scoring retain-test"] == pytest.approx(scored * sum(sizes) / scoring, abs=1e-6)
        assert starts["Scoring forget-test"] == pytest.approx(scored * sizes[0] / scoring, abs=1e-6)

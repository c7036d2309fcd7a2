"""Proof photo by photo: a per-example membership test (the likelihood-ratio attack, LiRA) for every
forget report.

A population attack asks whether the forgotten photos, taken together, look like training photos. That
can hide photos that are still remembered among many that are not, and it cannot tell an easy photo
that every model is sure of from one the model memorised. LiRA (Carlini et al., 2022) asks it of each
photo: many *shadow* models are trained, each on a random half of the photos, so that every photo has
models that trained on it (IN) and models that did not (OUT). The confidence a model has in a photo's
true person, written as a logit ``log p / (1 − p)``, is close to Gaussian over shadows; the attack scores
a judged model's confidence by how much likelier it is under the IN Gaussian of that photo than under its
OUT Gaussian. U-LiRA (Hayes et al., 2024) points out that for unlearning the question is whether an
unlearned model treats a photo as a model that never trained on it does — so the score of the
unlearned model is read beside the score of the retrained reference, on the same photos.

Here:

- **Shadows.** ``SHADOWS`` (64) heads, each fitted on a random half of every photo the model was trained or
  tested on (each photo IN for about half of them). For an embedding model they are the model's own
  kind — a centre per person and a fitted scale over the frozen embeddings — so the shadows are trained
  exactly as the judged model was; a head is fitted in milliseconds. For a fine-tuned model, retraining
  64 networks does not fit a CPU: the shadows are softmax heads over the pretrained (frozen) backbone's
  embeddings — the model's starting point, which never saw these photos — a stand-in for models trained
  like it. Where a GPU is lent, full shadow models would be the faithful choice; this app does not train
  them.
- **Calibration.** A judged model's confidences are mapped onto the shadows' scale by one straight
  line fitted on photos whose membership is known (a sample of the retained training photos, which the
  model trained on, and half of the held-out photos, which it did not). For shadows of the model's own
  kind the line is close to the identity; for the stand-in shadows it corrects their different
  confidence scale.
- **The score** of a photo is the online LiRA log-likelihood ratio with a per-photo IN and OUT mean and one
  variance pooled over all photos (Carlini et al.'s fixed-variance variant, stable with tens of shadows).
- **The AUC** is how well that score tells the forgotten training photos (which the original trained on)
  from unseen photos: the forgotten people's own held-out photos when people are forgotten, the other half
  of the held-out photos when photos are. 0.5 means the attack cannot tell them apart; the retrained
  reference shows what a model that never saw them gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from ..common.jobs import Progress
from ..common.plan import Part
from ..common.rates import Stage
from ..data.outliers import frozen_embeddings
from ..faces.crops import CropCache, CropSet, CropSpec
from ..model.backbones import get_backbone
from ..model.embeddings import cached_embeddings, embedding_part
from ..model.heads import CentroidHead, fit_centroid_head
from ..model.openset import anchor_of
from .evaluation import ForgetSplits, Outputs

SHADOWS = 64
SHRINK = 8.0  # a photo's OUT variance counts the pooled variance as this many more shadows
VARIANT = "online"
SHADOW_LINEAR_STEPS = 60  # full-batch L-BFGS-free gradient steps of a stand-in softmax head (see ``linear_shadows``)
MAX_PHOTOS_KEPT = 2000  # per-photo scores kept in a report (beyond it, a fixed sample)


@dataclass
class ShadowStats:
    """Per-photo IN and OUT confidence of the shadows, for every photo of the population."""

    index: dict[str, int]  # photo sha256 -> row
    mean_in: np.ndarray
    mean_out: np.ndarray
    count_in: np.ndarray
    count_out: np.ndarray
    std: float  # one standard deviation pooled over every photo, IN and OUT
    shadows: int
    kind: str  # "centroid heads on the model's embeddings" / "softmax heads on the pretrained embeddings"
    std_out: np.ndarray | None = None  # each photo's OUT spread, shrunk towards the pooled one

    def rows(self, digests: list[str]) -> np.ndarray:
        return np.array([self.index.get(d, -1) for d in digests], dtype=np.int64)


def confidence(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """The logit of the probability of the true person, ``log p − log(1 − p)``, computed stably as the
    true logit minus the log-sum-exp of the others (Carlini et al.'s "logit scaling")."""
    if len(labels) == 0:
        return np.zeros(0)
    logits = logits.double()
    true = logits.gather(1, labels.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, labels.view(-1, 1), -math.inf)
    return (true - torch.logsumexp(others, 1)).numpy()


def population(train: CropSet, heldout: CropSet) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Every photo the model was trained or tested on, once each (by content): features, labels, digests."""
    seen, rows = {}, []
    for data in (train, heldout):
        for i, digest in enumerate(data.digests):
            if digest not in seen:
                seen[digest] = len(rows)
                rows.append((data, i))
    features = torch.stack([data.images[i].float() for data, i in rows]) if rows else torch.zeros(0, 0)
    labels = torch.tensor([int(data.labels[i]) for data, i in rows], dtype=torch.long)
    return features, labels, list(seen)


def shadow_population(
    original,
    crops: tuple[CropSet, CropSet],
    learned_sets: tuple[CropSet, CropSet],
    device: torch.device,
    cache: CropCache | None = None,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[str], str]:
    """The features the shadows learn from, for every photo (features, labels, digests, shadow kind).

    An embedding model's own embeddings (its shadows are heads of its kind). For a fine-tuned model, the
    embeddings of its starting point — the pretrained backbone, frozen, which never saw these photos —
    read from the embedding cache where they are; a backbone trained from scratch has no such starting
    point, so its own penultimate features stand in."""
    if original.kind == "embedding":
        return (*population(*learned_sets), "centroid")
    train, heldout, used = frozen_embeddings(original, *crops, device, cache, progress)
    return (*population(train, heldout), "linear" if "pretrained" in used else "linear-own")


def lira_parts(original, photos: int, spec: CropSpec, cache: CropCache | None, device: torch.device) -> list[Part]:
    """The test's two stages on ``photos`` photos, for the job's time left: the shadows' features ("features":
    an embedding model's are at hand; a fine-tuned model's starting point's are read from the cache where they
    are, else computed and kept, as ``shadow_population`` does), then the shadow heads (``shadow_stats``)."""
    on = device.type
    if original.kind == "embedding":
        return [("features", []), Stage("lira-embedding", 0.02 * photos, on)]
    backbone = original.meta.get("backbone") or original.model.backbone_name
    if anchor_of(original.model) is not None or get_backbone(backbone).pretrained:
        cached = cached_embeddings(cache, spec, backbone)
        features = embedding_part("features", photos, cached, device, cache is not None)
    else:  # from scratch: its own features, one pass over the photos
        features = ("features", [Stage("embed", photos, on)])
    return [features, Stage(f"shadows-{original.kind}", photos * len(original.classes), on)]  # heads × people


def memberships(count: int, shadows: int, seed: int, share: float = 0.5) -> torch.Tensor:
    """shadows × count: which photos each shadow trains on — each photo IN for the same number of shadows,
    ``share`` of them, at random (so no photo lacks either side)."""
    generator = torch.Generator().manual_seed(seed)
    inside = min(shadows - 1, max(1, round(share * shadows)))
    order = torch.stack([torch.randperm(shadows, generator=generator) for _ in range(count)], 1)
    return order < inside


@torch.no_grad()
def centroid_shadows(
    features: torch.Tensor, labels: torch.Tensor, classes: int, member: torch.Tensor, progress: Progress
) -> np.ndarray:
    """Confidence of each shadow on each photo, for heads of the embedding kind, fitted on the shadow's IN
    photos by the model's own code (``fit_centroid_head``): a centre per person and the shared scale."""
    result = np.zeros((len(member), len(labels)))
    features = features.float()
    for k, inside in enumerate(member):
        progress(k / len(member), f"Per-photo test: shadow head {k + 1}/{len(member)}")
        head = CentroidHead(features.shape[1], classes)
        fit_centroid_head(head, features[inside], labels[inside])
        result[k] = confidence(head(features), labels)
    return result


def linear_shadows(
    features: torch.Tensor, labels: torch.Tensor, classes: int, member: torch.Tensor, progress: Progress
) -> np.ndarray:
    """Confidence of each shadow on each photo, for stand-in softmax heads: a linear layer over the
    normalised embeddings, trained full-batch with Adam and weight decay on its IN photos (all shadows at
    once, as one batched tensor)."""
    torch.manual_seed(0)
    unit = F.normalize(features.float(), dim=1) * 8.0  # a scale at which a linear head learns in few steps
    shadows, dim = len(member), unit.shape[1]
    weight = torch.zeros(shadows, classes, dim, requires_grad=True)
    bias = torch.zeros(shadows, 1, classes, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=0.05)
    inside = member.float()
    counts = inside.sum(1).clamp_min(1)
    for step in range(SHADOW_LINEAR_STEPS):
        progress(step / SHADOW_LINEAR_STEPS, f"Per-photo test: {shadows} shadow heads, step {step + 1}")
        logits = torch.einsum("nd,scd->snc", unit, weight) + bias
        loss_each = F.cross_entropy(logits.reshape(-1, classes), labels.repeat(shadows), reduction="none")
        loss = ((loss_each.view(shadows, -1) * inside).sum(1) / counts).sum() + 5e-4 * (weight**2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        logits = torch.einsum("nd,scd->snc", unit, weight) + bias
        return np.stack([confidence(logits[k], labels) for k in range(shadows)])


def shadow_stats(
    features: torch.Tensor,
    labels: torch.Tensor,
    digests: list[str],
    classes: int,
    kind: str,
    shadows: int = SHADOWS,
    seed: int = 0,
    progress: Progress | None = None,
    share: float = 0.5,
) -> ShadowStats:
    """Train the shadows (``kind`` "centroid" or "linear"), each on ``share`` of the photos, and keep each
    photo's IN and OUT statistics."""
    progress = progress or Progress()
    member = memberships(len(labels), shadows, seed, share)
    fit = centroid_shadows if kind == "centroid" else linear_shadows
    descriptions = {
        "centroid": "centroid heads on the model's own embeddings (trained as the model was)",
        "linear": "softmax heads on the pretrained backbone's embeddings (stand-ins for fine-tuned models)",
        "linear-own": "softmax heads on the original model's features (stand-ins: no pretrained backbone)",
    }
    phi = fit(features, labels, classes, member, progress)
    inside = member.numpy()
    count_in, count_out = inside.sum(0), (~inside).sum(0)
    mean_in = np.where(inside, phi, 0).sum(0) / np.maximum(count_in, 1)
    mean_out = np.where(~inside, phi, 0).sum(0) / np.maximum(count_out, 1)
    spread = np.where(inside, (phi - mean_in) ** 2, (phi - mean_out) ** 2)
    std = float(np.sqrt(spread.sum() / max(spread.size - 2 * len(labels), 1)))
    out_spread = np.where(~inside, (phi - mean_out) ** 2, 0).sum(0)
    std_out = np.sqrt((out_spread + SHRINK * std**2) / (np.maximum(count_out - 1, 0) + SHRINK))
    progress(1.0, f"Per-photo test: {shadows} shadow heads trained")
    return ShadowStats(
        {d: i for i, d in enumerate(digests)},
        mean_in,
        mean_out,
        count_in,
        count_out,
        max(std, 1e-6),
        shadows,
        descriptions[kind],
        np.maximum(std_out, 1e-6),
    )


def lira_score(phi: np.ndarray, mean_in: np.ndarray, mean_out: np.ndarray, std: float) -> np.ndarray:
    """Online LiRA with a pooled variance: log N(φ; μ_in, σ²) − log N(φ; μ_out, σ²)."""
    return ((phi - mean_out) ** 2 - (phi - mean_in) ** 2) / (2 * std**2)


def offline_score(phi: np.ndarray, mean_out: np.ndarray, std_out: np.ndarray) -> np.ndarray:
    """Offline LiRA: how far above the photo's OUT Gaussian the confidence is, in its standard deviations."""
    return (phi - mean_out) / std_out


def calibration_line(phi: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """The straight line a·φ + b closest (least squares) to the shadows' expectation for these photos;
    the identity when there is nothing to fit or the fit would reverse the order."""
    if len(phi) < 3 or np.std(phi) < 1e-9:
        return 1.0, 0.0
    a, b = np.polyfit(phi, expected, 1)
    return (float(a), float(b)) if a > 0 else (1.0, 0.0)


@dataclass
class Judged:
    """One judged model's confidences on the photos the test reads (by digest)."""

    phi: dict[str, np.ndarray]  # role -> confidences
    digests: dict[str, list[str]]


def judged(out: Outputs, splits: ForgetSplits, retain_sample: CropSet) -> Judged:
    """A model's confidences on forget-train, forget-test, the retain-train sample and retain-test."""
    sets = {
        "forget_train": splits.forget_train,
        "forget_test": splits.forget_test,
        "retain_train": retain_sample,
        "retain_test": splits.retain_test,
    }
    return Judged(
        {role: confidence(out.logits[role], out.labels[role]) for role in sets},
        {role: list(data.digests) for role, data in sets.items()},
    )


def split_unseen(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of ``count`` unseen photos: one to calibrate on, one to score."""
    order = np.random.default_rng(seed + 17).permutation(count)
    return order[: count // 2], order[count // 2 :]


def per_photo_mia(
    stats: ShadowStats, models: dict[str, Judged], scope: str, seed: int = 0, keep: int = MAX_PHOTOS_KEPT
) -> dict | None:
    """The report's ``per_photo_mia``: the attack AUC of each judged model on the forgotten training
    photos against unseen photos, and every forgotten photo's score (see the module docstring)."""
    sets = next(iter(models.values())).digests  # the same photos for every judged model
    forgotten = sets["forget_train"]
    if scope == "people" and sets["forget_test"]:
        unseen, outsiders, against = sets["forget_test"], sets["retain_test"], "their own held-out photos"
    else:  # the held-out photos serve twice: half to calibrate on, half to score
        pool = sets["forget_test"] + sets["retain_test"] if scope == "photos" else sets["retain_test"]
        half, rest = split_unseen(len(pool), seed)
        outsiders, unseen = [pool[i] for i in half], [pool[i] for i in rest]
        against = "held-out photos no model trained on"
    known = [d for d in forgotten + unseen if d in stats.index]
    if not forgotten or not unseen or len(known) < len(forgotten) + len(unseen):
        return None
    members = [d for d in sets["retain_train"] if d in stats.index]
    outsiders = [d for d in outsiders if d in stats.index]
    expected = np.concatenate([stats.mean_in[stats.rows(members)], stats.mean_out[stats.rows(outsiders)]])
    result: dict = {}
    scores: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for role, model in models.items():
        phi = {d: v for r in model.phi for d, v in zip(model.digests[r], model.phi[r])}
        a, b = calibration_line(np.array([phi[d] for d in members + outsiders]), expected)

        def score(digests: list[str], phi=phi, a=a, b=b) -> np.ndarray:
            rows = stats.rows(digests)
            values = a * np.array([phi[d] for d in digests]) + b
            if VARIANT == "offline":
                return offline_score(values, stats.mean_out[rows], stats.std_out[rows])
            return lira_score(values, stats.mean_in[rows], stats.mean_out[rows], stats.std)

        scores[role] = (score(forgotten), score(unseen))
        result[role] = auc(*scores[role])
    chosen = np.arange(len(forgotten))
    if len(forgotten) > keep:
        chosen = np.sort(np.random.default_rng(seed).choice(len(forgotten), keep, replace=False))
    result.update(
        {
            "test": "online LiRA (per-photo IN/OUT means, pooled variance), calibrated per model",
            "shadows": stats.shadows,
            "shadow_models": stats.kind,
            "forgotten_photos": len(forgotten),
            "unseen_photos": len(unseen),
            "against": against,
            "photos": [
                {"sha256": forgotten[i], **{role: _round(scores[role][0][i]) for role in scores}} for i in chosen
            ],
            "unseen": {role: [_round(v) for v in negative] for role, (_, negative) in scores.items()},
        }
    )
    return result


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC AUC of scores telling ``positive`` from ``negative`` (NaN scores dropped)."""
    positive, negative = positive[np.isfinite(positive)], negative[np.isfinite(negative)]
    if len(positive) == 0 or len(negative) == 0:
        return math.nan
    labels = np.concatenate([np.ones(len(positive)), np.zeros(len(negative))])
    return round(float(roc_auc_score(labels, np.concatenate([positive, negative]))), 4)


def _round(value: float) -> float | None:
    return round(float(value), 3) if np.isfinite(value) else None

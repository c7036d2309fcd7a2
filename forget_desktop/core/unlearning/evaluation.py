"""How well a model has forgotten: accuracy on four splits, membership inference, embedding probe,
relearn time, per-identity accuracy and confusion — measured the same way for the original, the
unlearned and the retrained reference model."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from ..common.errors import ForgetError
from ..common.jobs import Progress
from ..faces.crops import CropSet, to_input
from ..model.openset import deciding_head, open_set_similarity
from ..model.training import Recipe, features_and_logits, outputs, set_train_mode

SPLITS = ("forget_train", "forget_test", "retain_train", "retain_test")
RELEARN_STEPS = 10  # an unlearned model's usual relearn test, for its share of an evaluation's time (not a limit)


@dataclass
class ForgetSplits:
    """The four evaluation sets of one forget request."""

    forget_train: CropSet
    forget_test: CropSet
    retain_train: CropSet
    retain_test: CropSet
    classes: list[str]
    forget_labels: list[int]

    @classmethod
    def from_sets(cls, train: CropSet, heldout: CropSet, classes: list[str], forget_labels: list[int]) -> ForgetSplits:
        return cls(
            train.of_classes(forget_labels),
            heldout.of_classes(forget_labels),
            train.of_classes(forget_labels, keep=False),
            heldout.of_classes(forget_labels, keep=False),
            classes,
            list(forget_labels),
        )

    def sample_retain_train(self, limit: int, seed: int = 0) -> CropSet:
        """A fixed random subset of retain-train (evaluation need not see all of it)."""
        if len(self.retain_train) <= limit:
            return self.retain_train
        order = torch.randperm(len(self.retain_train), generator=torch.Generator().manual_seed(seed))
        mask = torch.zeros(len(self.retain_train), dtype=torch.bool)
        mask[order[:limit]] = True
        return self.retain_train.where(mask)


@dataclass
class Outputs:
    """Logits and penultimate features of one model on the evaluation sets."""

    logits: dict[str, torch.Tensor]
    features: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]


def collect_outputs(model, sets: dict[str, CropSet], device: torch.device, progress: Progress | None = None) -> Outputs:
    """One forward pass per set, keeping both features and logits."""
    logits, features, labels = {}, {}, {}
    progress = progress or Progress()
    views = progress.stages(*(len(data) for data in sets.values()))  # the bar moves with the photos scored
    for (name, data), view in zip(sets.items(), views, strict=True):
        view(0.0, f"Scoring {name.replace('_', '-')}")
        features[name], logits[name] = features_and_logits(model, data.images, data.spec, device, progress=view)
        labels[name] = data.labels
    return Outputs(logits, features, labels)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).float().mean()) if len(labels) else math.nan


def loss_and_entropy(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Per-example [cross-entropy loss, prediction entropy]: the attack's two features."""
    log_probs = F.log_softmax(logits, 1)
    loss = -log_probs.gather(1, labels.view(-1, 1)).squeeze(1)
    entropy = -(log_probs.exp() * log_probs).sum(1)
    return torch.stack([loss, entropy], 1).numpy()


def _attack_features(values: np.ndarray) -> np.ndarray:
    """−log(loss), −log(entropy): larger means "looks more like a training photo"."""
    return -np.log(np.clip(values, 1e-8, None))


class MonotoneAttack:
    """Logistic regression whose weights may not be negative: a lower loss or entropy never makes a
    photo look less like a member. Without this, a model that is right on nearly every held-out
    photo leaves nothing to learn from, and the fit extrapolates noise to the forgotten photos'
    very large losses. With no signal at all it becomes the loss-threshold attack (Yeom et al. 2018)."""

    def __init__(self, l2: float = 1.0) -> None:
        self.l2 = l2
        self.coef_, self.intercept_ = np.zeros(2), 0.0

    def fit(self, x: np.ndarray, y: np.ndarray) -> MonotoneAttack:
        from scipy.optimize import minimize

        def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = params[:-1], params[-1]
            z = x @ w + b
            p = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
            value = np.mean(np.logaddexp(0, z) - y * z) + 0.5 * self.l2 * w @ w / len(y)
            grad = np.append(x.T @ (p - y) / len(y) + self.l2 * w / len(y), np.mean(p - y))
            return value, grad

        start = np.zeros(x.shape[1] + 1)
        bounds = [(0.0, None)] * x.shape[1] + [(None, None)]
        result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
        self.coef_, self.intercept_ = result.x[:-1], result.x[-1]
        if not np.any(self.coef_ > 1e-6):
            # Members and non-members look alike (the model is right on nearly every photo): fall back
            # to the plain loss-threshold attack, which ranks photos by loss alone.
            self.coef_ = np.eye(x.shape[1])[0]
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ self.coef_ + self.intercept_, -40, 40)))
        return np.column_stack([1 - p, p])


def membership_attack(out: Outputs, seed: int = 0):
    """A population attack on (loss, entropy), fitted on retain-train photos (members) against half
    of the retain-test photos (non-members). Returns the attack and the other half of retain-test,
    kept for scoring."""
    members = loss_and_entropy(out.logits["retain_train"], out.labels["retain_train"])
    outsiders = loss_and_entropy(out.logits["retain_test"], out.labels["retain_test"])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(outsiders))
    fit_part, kept = outsiders[order[: len(order) // 2]], outsiders[order[len(order) // 2 :]]
    n = min(len(members), len(fit_part))
    if n < 2:
        return None, kept
    x = np.concatenate([members[rng.choice(len(members), n, replace=False)], fit_part[:n]])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    return MonotoneAttack().fit(_attack_features(x), y), kept


def _auc(attack, members: np.ndarray, outsiders: np.ndarray) -> float:
    if attack is None or len(members) == 0 or len(outsiders) == 0:
        return math.nan
    scores = attack.predict_proba(_attack_features(np.concatenate([members, outsiders])))[:, 1]
    labels = np.concatenate([np.ones(len(members)), np.zeros(len(outsiders))])
    return float(roc_auc_score(labels, scores))


def membership_auc(out: Outputs, seed: int = 0) -> tuple[float, float]:
    """AUC of the attack telling the forgotten people's training photos from held-out photos.

    Returns (against all held-out photos not used to fit the attack — the headline number,
    against only the forgotten people's own held-out photos — does the model treat the photos
    it was trained on differently from the same people's unseen photos?)."""
    attack, kept = membership_attack(out, seed)
    forget_train = loss_and_entropy(out.logits["forget_train"], out.labels["forget_train"])
    forget_test = loss_and_entropy(out.logits["forget_test"], out.labels["forget_test"])
    held_out = np.concatenate([kept, forget_test]) if len(forget_test) else kept
    return _auc(attack, forget_train, held_out), _auc(attack, forget_train, forget_test)


def probe_accuracy(out: Outputs, per_class: int = 100, seed: int = 0) -> float:
    """Embedding leakage: how often a forgotten person's unseen photo has, as its nearest
    neighbour (cosine) among training photos' features (at most ``per_class`` per identity, so no
    identity dominates), a photo of the same person."""
    features = torch.cat([out.features["retain_train"], out.features["forget_train"]])
    labels = torch.cat([out.labels["retain_train"], out.labels["forget_train"]])
    queries = out.features["forget_test"]
    if len(queries) == 0 or len(labels) == 0:
        return math.nan
    generator = torch.Generator().manual_seed(seed)
    keep = torch.cat(
        [
            index[torch.randperm(len(index), generator=generator)[:per_class]]
            for index in (torch.nonzero(labels == c).flatten() for c in torch.unique(labels))
        ]
    )
    similarity = F.normalize(queries, dim=1) @ F.normalize(features[keep], dim=1).T
    nearest = labels[keep][similarity.argmax(1)]
    return float((nearest == out.labels["forget_test"]).float().mean())


def named_as_other(model, out: Outputs, sets: dict[str, CropSet], device: torch.device) -> float:
    """How often a forgotten person's photo (train or held-out) would be *named* — its similarity to the
    chosen person's centre reaches the model's threshold, as the app decides it — as someone else: the
    look-alike error an app that forgot them must not make (NaN for a model without a calibrated
    threshold)."""
    head = deciding_head(model)
    names = ("forget_train", "forget_test")
    labels = torch.cat([out.labels[name] for name in names])
    if len(labels) == 0 or not head.calibrated:
        return math.nan
    similarity = torch.cat(
        [open_set_similarity(model, sets[name], out.features[name], out.logits[name], device) for name in names]
    )
    logits = torch.cat([out.logits[name] for name in names])
    named = similarity >= float(head.threshold)
    return float((named & (logits.argmax(1) != labels)).float().mean())


def per_identity(out: Outputs, classes: list[str]) -> dict[str, dict]:
    """identity -> train and test accuracy (and photo counts)."""
    result = {}
    for split in ("train", "test"):
        logits = torch.cat([out.logits[f"forget_{split}"], out.logits[f"retain_{split}"]])
        labels = torch.cat([out.labels[f"forget_{split}"], out.labels[f"retain_{split}"]])
        correct = logits.argmax(1) == labels
        for index, name in enumerate(classes):
            mask = labels == index
            entry = result.setdefault(name, {})
            entry[f"{split}_acc"] = float(correct[mask].float().mean()) if mask.any() else math.nan
            entry[f"{split}_n"] = int(mask.sum())
    return result


def confusion(out: Outputs, classes: list[str], forget_labels: list[int], top: int = 3) -> dict[str, list]:
    """Where each forgotten person's photos now go: the top predicted names with their share."""
    logits = torch.cat([out.logits["forget_train"], out.logits["forget_test"]])
    labels = torch.cat([out.labels["forget_train"], out.labels["forget_test"]])
    predicted = logits.argmax(1)
    result = {}
    for label in forget_labels:
        mine = predicted[labels == label]
        if len(mine) == 0:
            continue
        counts = torch.bincount(mine, minlength=len(classes)).float() / len(mine)
        values, index = counts.topk(min(top, len(classes)))
        result[classes[label]] = [[classes[i], round(float(v), 4)] for v, i in zip(values, index) if v > 0]
    return result


def relearn_steps(
    model,
    splits: ForgetSplits,
    recipe: Recipe,
    device: torch.device,
    per_identity_photos: int = 5,
    max_steps: int = 50,
    seed: int = 0,
    progress: Progress | None = None,
) -> int:
    """Fine-tuning steps on a few of the forgotten people's photos until their unseen photos are
    recognised at least 50 % of the time again (``max_steps`` means "not within the budget")."""
    test = splits.forget_test
    if len(test) == 0:
        return 0
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for label in splits.forget_labels:
        index = torch.nonzero(splits.forget_train.labels == label).flatten()
        picks.append(index[torch.randperm(len(index), generator=generator)[:per_identity_photos]])
    few = splits.forget_train.where(torch.isin(torch.arange(len(splits.forget_train)), torch.cat(picks)))
    student = copy.deepcopy(model).to(device)
    optimizer = torch.optim.SGD(student.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    x = to_input(few.images.to(device), few.spec)
    y = few.labels.to(device)
    for step in range(max_steps + 1):
        if _accuracy(outputs(student, test.images, test.spec, device), test.labels) >= 0.5:
            return step
        if step == max_steps or len(few) == 0:
            break
        if progress is not None:
            progress(step / max_steps, f"Relearn step {step + 1}")
        set_train_mode(student, recipe.freeze_bn or len(few) < 2)
        loss = F.cross_entropy(student(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return max_steps


def js_divergence(p_logits: torch.Tensor, q_logits: torch.Tensor) -> float:
    """Mean Jensen-Shannon divergence (natural log, 0..ln 2) between two models' predictions."""
    if len(p_logits) == 0:
        return math.nan
    p, q = F.softmax(p_logits, 1), F.softmax(q_logits, 1)
    m = (p + q) / 2

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * (a.clamp_min(1e-12).log() - b.clamp_min(1e-12).log())).sum(1)

    return float(((kl(p, m) + kl(q, m)) / 2).mean())


def evaluation_work(splits: ForgetSplits, relearn_steps: int = RELEARN_STEPS, retain_train_limit: int = 1000):
    """An evaluation's work in forward passes, for its time: scoring its four sets, and the relearn test
    (``relearn_steps`` steps on five photos of each forgotten person, forward and backward, each followed by
    scoring their held-out photos; 0 for a model that still knows them, whose test ends at once)."""
    scoring = len(splits.forget_train) + len(splits.forget_test) + len(splits.retain_test)
    scoring += min(retain_train_limit, len(splits.retain_train))
    return scoring, relearn_steps * (15 * len(splits.forget_labels) + len(splits.forget_test))


def evaluate(
    model,
    splits: ForgetSplits,
    recipe: Recipe,
    device: torch.device,
    retain_train_limit: int = 1000,
    relearn: bool = True,
    seed: int = 0,
    progress: Progress | None = None,
    relearn_steps_expected: int = RELEARN_STEPS,
) -> tuple[dict, Outputs]:
    """Every metric of one model (see the module docstring), plus its raw outputs for JS; its bar is shared
    between scoring and the relearn test by ``evaluation_work`` (``relearn_steps_expected``: 0 for the
    original)."""
    progress = progress or Progress()
    scoring, relearning = evaluation_work(splits, relearn_steps_expected if relearn else 0, retain_train_limit)
    scored = scoring / max(scoring + relearning, 1)
    sets = {
        "forget_train": splits.forget_train,
        "forget_test": splits.forget_test,
        "retain_train": splits.sample_retain_train(retain_train_limit, seed),
        "retain_test": splits.retain_test,
    }
    out = collect_outputs(model, sets, device, progress.sub(0, scored))
    if not all(torch.isfinite(logits).all() for logits in out.logits.values()):
        raise ForgetError(
            "The model's outputs are not finite numbers (it diverged); try a smaller learning rate or fewer steps."
        )
    metrics = {f"{name}_acc": _accuracy(out.logits[name], out.labels[name]) for name in SPLITS}
    metrics["mia_auc"], metrics["mia_auc_person"] = membership_auc(out, seed)
    metrics["probe_acc"] = probe_accuracy(out, seed=seed)
    metrics["named_as_other"] = named_as_other(model, out, sets, device)
    metrics["relearn_steps"] = (
        relearn_steps(model, splits, recipe, device, seed=seed, progress=progress.sub(scored, 1.0)) if relearn else None
    )
    metrics["per_identity"] = per_identity(out, splits.classes)
    metrics["confusion"] = confusion(out, splits.classes, splits.forget_labels)
    progress(1.0, "Scored")
    return metrics, out


def forget_logits(out: Outputs) -> torch.Tensor:
    """The model's logits on every forget photo (train then test)."""
    return torch.cat([out.logits["forget_train"], out.logits["forget_test"]])

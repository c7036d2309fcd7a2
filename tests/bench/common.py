"""Shared pieces of the unlearning benchmark and sweep: scenarios, references and scoring."""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from forget_desktop.core.common.jobs import Progress  # noqa: E402
from forget_desktop.core.faces.crops import CropCache  # noqa: E402
from forget_desktop.core.model.checkpoint import load_checkpoint  # noqa: E402
from forget_desktop.core.model.embeddings import learned_view  # noqa: E402
from forget_desktop.core.unlearning import get_method  # noqa: E402
from forget_desktop.core.unlearning.evaluation import ForgetSplits, evaluate  # noqa: E402
from forget_desktop.core.unlearning.job import (  # noqa: E402
    METRIC_KEYS,
    compare_models,
    config_for,
    finish_model,
    load_training_sets,
    run_method,
    summarise,
)

SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "tests" / "bench" / "results"


def results_stem(out: str | None, name: str) -> Path:
    """Where a benchmark writes its .md and .json: ``--out`` if given, else ``tests/bench/results/<name>``."""
    return Path(out) if out else RESULTS / name


DATA = {"lfw": SHARED / "data" / "lfw" / "lfw-deepfunneled", "mnist": SHARED / "data" / "mnist"}
GAP_KEYS = (
    "forget_train_acc",
    "forget_test_acc",
    "retain_test_acc",
    "mia_auc",
    "mia_auc_person",
    "probe_acc",
    "relearn_steps",
    "named_as_other",
    "js_to_reference",
)
WEIGHTS = SHARED / "models" / "mobilefacenet" / "mobilefacenet.pt"
os.environ.setdefault("FORGET_CACHE_DIR", str(ROOT / "runs" / "cache"))  # the app's own caches, kept for benchmarks
CROP_CACHE = Path(os.environ["FORGET_CACHE_DIR"]) / "crops"  # where CropCache() looks
os.environ.setdefault("FORGET_MOBILEFACENET_WEIGHTS", str(WEIGHTS))


@dataclass
class Scenario:
    """One forget request on one dataset with one seed, and its reference."""

    dataset: str
    name: str  # e.g. "forget-1"
    seed: int
    forget: list[str]
    splits: ForgetSplits
    checkpoint: object
    config: object
    model: object = None  # what is unlearned: the whole model, or an embedding model's head
    original: dict | None = None
    reference: dict | None = None
    reference_out: object = None
    reference_model: object = None
    reference_seconds: float = math.nan


def load_dataset(dataset: str, checkpoint_path: Path, device: torch.device | None = None):
    """(checkpoint, train, held-out): face crops, or embeddings for an embedding model."""
    checkpoint = load_checkpoint(checkpoint_path)
    cache = CropCache(CROP_CACHE)
    train, heldout = load_training_sets(checkpoint.meta, DATA[dataset], cache)
    _, train, heldout = learned_view(checkpoint.model, train, heldout, device or torch.device("cpu"), cache)
    return checkpoint, train, heldout


def choose_forget(dataset: str, classes: list[str], size: int, seed: int) -> list[str]:
    """Digit 7 for MNIST; ``size`` random people for faces (seeded)."""
    if dataset == "mnist":
        return ["7"]
    return sorted(random.Random(f"forget:{seed}:{size}").sample(classes, size))


def make_scenario(dataset: str, name: str, size: int, seed: int, checkpoint, train, heldout, device) -> Scenario:
    classes = checkpoint.classes
    forget = choose_forget(dataset, classes, size, seed)
    labels = sorted(classes.index(n) for n in forget)
    splits = ForgetSplits.from_sets(train, heldout, classes, labels)
    config = config_for(checkpoint.meta, device, seed)
    model = learned_view(checkpoint.model, train, heldout, device)[0]
    return Scenario(dataset, name, seed, forget, splits, checkpoint, config, model)


def score(model, scenario: Scenario, relearn: bool = True):
    metrics, out = evaluate(
        model, scenario.splits, scenario.config.recipe, scenario.config.device, seed=scenario.seed, relearn=relearn
    )
    return metrics, out


def prepare_reference(scenario: Scenario, log=print) -> None:
    """Score the original and retrain + score the reference (timed) for a scenario."""
    metrics, out = score(scenario.model, scenario)
    started = time.perf_counter()
    reference, seconds = run_method("retrain", scenario.model, scenario.splits, scenario.config, Progress())
    log(f"  reference retrain ({scenario.checkpoint.kind}) {seconds:.2f} s (wall {time.perf_counter() - started:.1f})")
    finish_model(reference, scenario.splits, scenario.config.device)
    ref_metrics, ref_out = score(reference, scenario)
    scenario.reference, scenario.reference_out = summarise(ref_metrics, ref_out, None), ref_out
    scenario.reference_model, scenario.reference_seconds = reference, seconds
    scenario.original = summarise(metrics, out, ref_out)


def run_one(scenario: Scenario, method: str, options: dict) -> dict:
    """Unlearn with ``method``/``options`` and compare with the scenario's reference."""
    model, seconds = run_method(method, scenario.model, scenario.splits, scenario.config, Progress(), options)
    finish_model(model, scenario.splits, scenario.config.device)
    metrics, out = score(model, scenario)
    entry = summarise(metrics, out, scenario.reference_out)
    exact = get_method(method).exact
    identical = compare_models(model, scenario.reference_model)["identical"] if exact else None
    return {
        "dataset": scenario.dataset,
        "scenario": scenario.name,
        "seed": scenario.seed,
        "kind": scenario.checkpoint.kind,
        "forget": scenario.forget,
        "method": method,
        "options": options,
        "seconds": seconds,
        "reference_seconds": scenario.reference_seconds,
        "time_ratio": seconds / scenario.reference_seconds,
        "identical_to_reference": identical,
        "unlearned": {k: entry[k] for k in (*METRIC_KEYS, "js_to_reference")},
        "reference": {k: scenario.reference[k] for k in METRIC_KEYS},
        "original": {k: scenario.original[k] for k in (*METRIC_KEYS, "js_to_reference")},
    }


def gaps(row: dict) -> dict:
    """Unlearned minus reference for each metric (JS is already a distance to the reference)."""
    result = {}
    for key in GAP_KEYS:
        value = row["unlearned"].get(key)
        if key == "js_to_reference":
            result[key] = value
        else:
            ref = row["reference"].get(key)
            result[key] = None if value is None or ref is None else value - ref
    return result


def targets_met(row: dict) -> dict:
    """The pass/fail targets for one row. Time is against the fine-tuned retrain of the same scenario
    (for ``exact``, which runs on the embedding model, that is ``ratio_to_finetuned_retrain``)."""
    u, r = row["unlearned"], row["reference"]
    return {
        "forget_acc<=1%": u["forget_train_acc"] <= 0.01 and u["forget_test_acc"] <= 0.01,
        "retain_test within 1pp": abs(u["retain_test_acc"] - r["retain_test_acc"]) <= 0.01,
        "mia within 0.05": abs(u["mia_auc"] - r["mia_auc"]) <= 0.05,
        "probe <= ref+5pp": u["probe_acc"] <= r["probe_acc"] + 0.05,
        "time <= 1/10": row.get("ratio_to_finetuned_retrain", row["time_ratio"]) <= 0.1,
    }


def mean(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.fmean(values) if values else math.nan


def device_from(name: str) -> torch.device:
    from forget_desktop.core.common.devices import pick_device

    return pick_device(name)


def cached_reference(scenario: Scenario, cache_dir: Path | None, log=print) -> None:
    """Like ``prepare_reference`` but keeps the retrained model on disk between sweep runs."""
    if cache_dir is None:
        return prepare_reference(scenario, log)
    from forget_desktop.core.model.models import FaceClassifier

    path = cache_dir / f"{scenario.dataset}-{scenario.name}-{scenario.seed}.pt"
    if not path.exists():
        reference, seconds = run_method("retrain", scenario.model, scenario.splits, scenario.config, Progress())
        finish_model(reference, scenario.splits, scenario.config.device)
        cache_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"state": reference.state_dict(), "seconds": seconds}, path)
        log(f"  reference retrain {seconds:.1f} s (cached in {path})")
    saved = torch.load(path, weights_only=True)
    reference = FaceClassifier(
        scenario.checkpoint.model.backbone_name, len(scenario.checkpoint.classes), scenario.checkpoint.kind
    )
    reference.load_state_dict(saved["state"])
    metrics, out = score(scenario.model, scenario)
    ref_metrics, ref_out = score(reference, scenario)
    scenario.reference, scenario.reference_out = summarise(ref_metrics, ref_out, None), ref_out
    scenario.reference_seconds, scenario.reference_model = saved["seconds"], reference
    scenario.original = summarise(metrics, out, ref_out)


def ensure_model(
    dataset: str, path: Path, device: torch.device, backbone: str = "mobilefacenet", log=print, kind: str = "finetuned"
) -> Path:
    """The original model of a benchmark: loaded if ``path`` exists, else trained and saved there."""
    if path.exists():
        return path
    log(f"training the {dataset} model ({kind} {backbone}) into {path}")
    if dataset == "mnist":
        from train.train_mnist import main as train_mnist

        code = train_mnist(["--data", str(DATA["mnist"]), "--out", str(path), "--device", device.type])
    else:
        from train.train_face import main as train_face

        args = [
            "--data",
            str(DATA["lfw"]),
            "--backbone",
            backbone,
            "--kind",
            kind,
            "--out",
            str(path),
            "--device",
            device.type,
        ]
        if backbone == "mobilefacenet":
            args += ["--weights", str(WEIGHTS)]
        code = train_face(args)
    if code != 0:
        raise SystemExit(f"training the {dataset} model failed")
    return path

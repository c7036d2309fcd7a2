"""Benchmark forgetting photos (not people) against a reference retrained without them, photo by photo.

    python tests/bench/photos_bench.py [--seeds 3,4,5] [--kinds embedding,finetuned]
                                       [--scenarios random-1,random-10,outliers-20] [--repair-seeds 3,4,5]
    python tests/bench/photos_bench.py --tune --seeds 0,1 --kinds finetuned --grid '[{"temperature": 2}, …]'

Scenarios on LFW-62 (62 people, 3,023 photos; each kind's model trained once, as the app trains it, on split
seed 0): forget 1 % or 10 % of the training photos, drawn at random by the scenario seed, or the 20 most
suspicious photos of the outlier finder (the same photos for every seed: there the seed draws the retrain,
the method's randomness and the shadows). The embedding model forgets them exactly and is compared tensor by
tensor with its reference; the fine-tuned model uses each method's random-sample recipe
(``photos.PHOTO_OPTIONS``). Every run is judged against a reference retrained in the same run without the
photos: accuracy on the forgotten photos, retain-train and test accuracy, the per-photo membership test
(LiRA, 64 shadow heads; ``core/unlearning/lira.py``) and time. Targets, per seed: identical for the
embedding kind; for the fine-tuned kind forgotten-photo accuracy within 2 pp of the reference and per-photo
MIA AUC within 0.03 of it. The default seeds (3, 4, 5) were not used to choose anything (``--tune`` ran on
0 and 1).

Repair (``--repair-seeds``): per seed, 12 of the 62 people are held out as strangers; a model of the kind
is trained on the other 50, its 20 most suspicious photos are forgotten, and held-out accuracy and the
strangers' false accepts are measured before and after.

Writes tests/bench/results/photos-<device>.{md,json} (or --out), after every scenario and seed.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("FORGET_SHARED_DIR") or ROOT.parent / "shared")
LFW = SHARED / "data" / "lfw" / "lfw-deepfunneled"
WEIGHTS = SHARED / "models" / "mobilefacenet" / "mobilefacenet.pt"
RESULTS = ROOT / "tests" / "bench" / "results"
SECOND_RETRAIN = "second-retrain"  # --methods: a second exact retrain, judged as a method is
os.environ.setdefault("FORGET_CACHE_DIR", str(ROOT / "runs" / "cache"))
os.environ.setdefault("FORGET_MOBILEFACENET_WEIGHTS", str(WEIGHTS))

from common import second_retrain_config  # noqa: E402
from forget_desktop.core.app.train_job import TrainRequest, train_model  # noqa: E402
from forget_desktop.core.common.devices import describe_device, pick_device  # noqa: E402
from forget_desktop.core.common.errors import ForgetError  # noqa: E402
from forget_desktop.core.common.images import list_images  # noqa: E402
from forget_desktop.core.common.jobs import Progress  # noqa: E402
from forget_desktop.core.data.outliers import find_outliers, frozen_embeddings  # noqa: E402
from forget_desktop.core.faces.crops import CropCache  # noqa: E402
from forget_desktop.core.model.checkpoint import load_checkpoint  # noqa: E402
from forget_desktop.core.model.embeddings import learned_view  # noqa: E402
from forget_desktop.core.model.openset import deciding_head, open_set_similarity  # noqa: E402
from forget_desktop.core.model.training import features_and_logits  # noqa: E402
from forget_desktop.core.unlearning import default_method, get_method  # noqa: E402
from forget_desktop.core.unlearning.evaluation import evaluate  # noqa: E402
from forget_desktop.core.unlearning.job import (  # noqa: E402
    compare_models,
    config_for,
    finish_model,
    load_training_sets,
    run_exact_photos,
    run_method,
)
from forget_desktop.core.unlearning.lira import SHADOWS, judged, per_photo_mia, shadow_population, shadow_stats  # noqa: E402  # noqa: E402
from forget_desktop.core.unlearning.photos import photo_options, photo_splits  # noqa: E402

SCENARIOS = {"random-1": ("random", 0.01), "random-10": ("random", 0.10), "outliers-20": ("outliers", 20)}
STRANGERS = 12
ACC_TOLERANCE, MIA_TOLERANCE = 0.02, 0.03


def log(text: str) -> None:
    print(time.strftime("%H:%M:%S"), text, flush=True)


class Original:
    """One kind's original model, its photos, the outlier ranking and the shadows (per seed)."""

    def __init__(self, path: Path, data: Path, device: torch.device, cache: CropCache) -> None:
        self.path, self.data, self.device, self.cache = path, data, device, cache
        self.checkpoint = load_checkpoint(path)
        self.kind = self.checkpoint.kind
        self.crops = load_training_sets(self.checkpoint.meta, data, cache)
        self.learned, self.train, self.heldout = learned_view(self.checkpoint.model, *self.crops, device, cache)
        self._suspects, self._stats = None, {}

    def suspects(self):
        if self._suspects is None:
            embeddings = frozen_embeddings(self.checkpoint, *self.crops, self.device, self.cache)[:2]
            self._suspects = find_outliers(self.checkpoint.classes, self.crops, embeddings, self.cache)
        return self._suspects

    def stats(self, seed: int):
        if seed not in self._stats:
            started = time.perf_counter()
            features, labels, digests, kind = shadow_population(
                self.checkpoint, self.crops, (self.train, self.heldout), self.device, self.cache
            )
            self._stats[seed] = shadow_stats(
                features, labels, digests, len(self.checkpoint.classes), kind, SHADOWS, seed
            )
            log(f"  {SHADOWS} shadow heads ({kind}) in {time.perf_counter() - started:.1f} s")
        return self._stats[seed]


def ensure_original(kind: str, path: Path, data: Path, device: torch.device, cache: CropCache, seed: int = 0) -> Path:
    if not path.exists():
        log(f"training the {kind} original into {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        result = train_model(
            TrainRequest(data, "mobilefacenet", path, str(WEIGHTS), kind=kind, seed=seed), device, cache=cache
        )
        log(f"  trained in {time.perf_counter() - started:.0f} s, held-out {result.heldout_acc:.4f}")
    return path


def choose_photos(original: Original, scenario: str, seed: int) -> list[Path]:
    how, size = SCENARIOS[scenario]
    if how == "outliers":
        return [Path(s.file) for s in original.suspects()[:size]]
    sources = list(original.train.sources)
    count = max(1, round(size * len(sources)))
    rng = random.Random(f"photos:{seed}:{scenario}")
    while True:  # a draw that would take someone's every training photo is drawn again
        chosen = sorted(rng.sample(sources, count))
        people = {Path(p).parent.name for p in chosen}
        left = {Path(p).parent.name for p in set(sources) - set(chosen)}
        if people <= left:
            return [Path(p) for p in chosen]


def test_accuracy(metrics: dict, splits) -> float:
    """Accuracy on every held-out photo left (the people concerned and everyone else)."""
    n_f, n_r = len(splits.forget_test), len(splits.retain_test)
    parts = [(metrics["forget_test_acc"], n_f), (metrics["retain_test_acc"], n_r)]
    return sum(a * n for a, n in parts if n) / max(n_f + n_r, 1)


def scores_of(metrics: dict, splits) -> dict:
    return {
        "forget_acc": metrics["forget_train_acc"],
        "their_other_photos_acc": metrics["forget_test_acc"],
        "retain_acc": metrics["retain_train_acc"],
        "test_acc": test_accuracy(metrics, splits),
        "mia_population": metrics["mia_auc"],
        "named_as_other": metrics["named_as_other"],
    }


def retrained_reference(
    original: Original, scenario: str, seed: int, photos, splits, calibration, config, kept: Path | None
):
    """The scenario's reference, retrained without the photos (and calibrated as the app does), or the one a
    previous run kept in the folder ``kept`` (--reference-cache) for the same model, scenario, seed and photos."""
    key = hashlib.sha256("\n".join(sorted(str(p) for p in photos)).encode()).hexdigest()[:12]
    anchored = "-anchored" if getattr(original.learned, "anchor", None) is not None else ""  # older: none
    path = kept / f"{original.kind}-{scenario}-{seed}-{key}{anchored}.pt" if kept else None
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=True)
        reference = copy.deepcopy(original.learned)
        reference.load_state_dict(saved["state"])
        log(f"  reference from {path} (retrained in {saved['seconds']:.1f} s)")
        return reference.to(original.device).eval(), saved["seconds"]
    reference, seconds = run_method("retrain", original.learned, splits, config, Progress())
    finish_model(reference, splits, original.device, None, calibration, original.cache)
    log(f"  reference retrained in {seconds:.1f} s")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state": reference.state_dict(), "seconds": seconds}, path)
    return reference, seconds


def run_scenario(
    original: Original, scenario: str, seed: int, methods: list[tuple[str, dict]], kept: Path | None = None
) -> list[dict]:
    device = original.device
    photos = choose_photos(original, scenario, seed)
    checkpoint = original.checkpoint
    chosen = photo_splits(photos, original.data, original.train, original.heldout, checkpoint.classes)
    splits, calibration = chosen.splits, chosen.heldout
    config = config_for(checkpoint.meta, device, seed)
    log(
        f"{original.kind} {scenario} seed {seed}: {chosen.count} photos ({len(splits.forget_train)} training, "
        f"{chosen.heldout_chosen} held-out) of {len(splits.forget_labels)} people"
    )
    before, before_out = evaluate(original.learned, splits, config.recipe, device, seed=seed)
    reference, reference_seconds = retrained_reference(
        original, scenario, seed, photos, splits, calibration, config, kept
    )
    ref_metrics, ref_out = evaluate(reference, splits, config.recipe, device, seed=seed)
    stats = original.stats(seed)
    retain_sample = splits.sample_retain_train(1000, seed)
    rows = []
    for method, overrides in methods:
        # a second exact retrain: how far two exact retrains are apart, the floor under the targets
        second = second_retrain_config(config) if method == SECOND_RETRAIN else None
        exact = second is None and get_method(method).exact
        options = {"seed": second.seed} if second else get_method(method).resolve(photo_options(method, overrides))
        try:
            if exact:
                model, seconds = run_exact_photos(original.learned, splits, config, Progress())
            elif second:
                model, seconds = run_method("retrain", original.learned, splits, second, Progress())
            else:
                model, seconds = run_method(method, original.learned, splits, config, Progress(), options)
        except ForgetError as error:  # a method that refuses (one sentence) is a miss, not the end of the run
            log(f"  {method} failed: {error}")
            rows.append(
                {"kind": original.kind, "scenario": scenario, "seed": seed, "method": method, "overrides": overrides,
                 "options": options, "failed": str(error), "targets": {"ran": False}}
            )  # fmt: skip
            continue
        finish_model(model, splits, device, None, calibration, original.cache)
        after, after_out = evaluate(model, splits, config.recipe, device, seed=seed)
        outs = {"original": before_out, "unlearned": after_out, "reference": ref_out}
        mia = per_photo_mia(stats, {r: judged(o, splits, retain_sample) for r, o in outs.items()}, "photos", seed)
        row = {
            "kind": original.kind,
            "scenario": scenario,
            "seed": seed,
            "method": method,
            "overrides": overrides,
            "options": options,
            "photos": chosen.count,
            "training_photos": len(splits.forget_train),
            "heldout_photos": chosen.heldout_chosen,
            "people": len(splits.forget_labels),
            "seconds": seconds,
            "reference_seconds": reference_seconds,
            "time_ratio": seconds / reference_seconds if reference_seconds else None,
            "identical_to_reference": compare_models(model, reference)["identical"] if exact else None,
            "original": {**scores_of(before, splits), "per_photo_mia": mia["original"]},
            "unlearned": {**scores_of(after, splits), "per_photo_mia": mia["unlearned"]},
            "reference": {**scores_of(ref_metrics, splits), "per_photo_mia": mia["reference"]},
            "mia_scores_forgotten": {r: [p[r] for p in mia["photos"]] for r in outs},
            "mia_against": f"{mia['unseen_photos']} {mia['against']}",
            "shadow_models": mia["shadow_models"],
        }
        if scenario.startswith("outliers"):
            row["suspects"] = [s.to_json() for s in original.suspects()[: SCENARIOS[scenario][1]]]
        row["targets"] = targets(row)
        log(
            f"  {method}: forget acc {row['unlearned']['forget_acc']:.3f} (ref {row['reference']['forget_acc']:.3f}), "
            f"test {row['unlearned']['test_acc']:.4f} (ref {row['reference']['test_acc']:.4f}), per-photo AUC "
            f"{row['original']['per_photo_mia']:.3f} -> {row['unlearned']['per_photo_mia']:.3f} "
            f"(ref {row['reference']['per_photo_mia']:.3f}); {seconds:.2f} s; targets {row['targets']}"
        )
        rows.append(row)
    return rows


def targets(row: dict) -> dict:
    u, r = row["unlearned"], row["reference"]
    if row["identical_to_reference"] is not None:
        return {"identical": bool(row["identical_to_reference"])}
    return {
        "forget acc within 2pp": abs(u["forget_acc"] - r["forget_acc"]) <= ACC_TOLERANCE + 1e-9,
        "per-photo AUC within 0.03": abs(u["per_photo_mia"] - r["per_photo_mia"]) <= MIA_TOLERANCE + 1e-9,
    }


# --- repair: what forgetting the most suspicious photos does to held-out accuracy and strangers ------------


def repair_seed(kind: str, seed: int, device: torch.device, cache: CropCache, top: int = 20) -> dict:
    people = sorted(p.name for p in LFW.iterdir() if p.is_dir())
    strangers = sorted(random.Random(f"strangers:{seed}").sample(people, STRANGERS))
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Path(tmp) / "people"
        for name in people:
            if name not in strangers:
                (gallery / name).mkdir(parents=True)
                for photo in list_images(LFW / name):
                    os.symlink(photo, gallery / name / photo.name)
        result = train_model(TrainRequest(gallery, "mobilefacenet", None, str(WEIGHTS), kind=kind), device, cache=cache)
        checkpoint = result.checkpoint
        crops = (result.gallery.train, result.gallery.heldout)
        learned, train, heldout = learned_view(checkpoint.model, *crops, device, cache)
        embeddings = frozen_embeddings(checkpoint, *crops, device, cache)[:2]
        suspects = find_outliers(checkpoint.classes, crops, embeddings, cache)[:top]
        photos = [Path(s.file) for s in suspects]
        chosen = photo_splits(photos, gallery, train, heldout, checkpoint.classes)
        splits, calibration = chosen.splits, chosen.heldout
        config = config_for(checkpoint.meta, device, seed)
        method = default_method(kind)
        if get_method(method).exact:
            after, seconds = run_exact_photos(learned, splits, config, Progress())
        else:
            after, seconds = run_method(method, learned, splits, config, Progress(), photo_options(method, {}))
        finish_model(after, splits, device, None, calibration, cache)
        reference, _ = run_method("retrain", learned, splits, config, Progress())
        finish_model(reference, splits, device, None, calibration, cache)
        stranger_samples = [s for name in strangers for s in list_images(LFW / name)]
    from forget_desktop.core.data.dataset import Sample
    from forget_desktop.core.faces.crops import build_crop_set

    stranger_crops, _ = build_crop_set([Sample(p, -1) for p in stranger_samples], checkpoint.crop, None, cache)
    if kind == "embedding":
        _, stranger_crops, _ = learned_view(checkpoint.model, stranger_crops, stranger_crops, device, cache)
    row = {"kind": kind, "seed": seed, "strangers": strangers, "forgotten": len(photos), "method": method}
    for role, model in (("original", learned), ("unlearned", after), ("reference", reference)):
        features, logits = features_and_logits(model, calibration.images, calibration.spec, device)
        correct = logits.argmax(1) == calibration.labels
        similarity = open_set_similarity(model, calibration, features, logits, device, cache)
        s_features, s_logits = features_and_logits(model, stranger_crops.images, stranger_crops.spec, device)
        stranger_similarity = open_set_similarity(model, stranger_crops, s_features, s_logits, device, cache)
        threshold = float(deciding_head(model).threshold)
        oracle = float(torch.quantile(similarity[correct], 0.01, interpolation="lower"))
        row[role] = {
            "heldout_acc": float(correct.float().mean()),
            "known_accept": float((correct & (similarity >= threshold)).float().mean()),
            "far": float((stranger_similarity >= threshold).float().mean()),
            "far_at_99_known": float((stranger_similarity >= oracle).float().mean()),
            "threshold": threshold,
        }
    row["heldout_photos"], row["stranger_photos"] = len(calibration), len(stranger_crops)
    row["reasons"] = [s.reason for s in suspects]
    log(
        f"repair {kind} seed {seed}: held-out {row['original']['heldout_acc']:.4f} -> "
        f"{row['unlearned']['heldout_acc']:.4f}, "
        f"FAR {row['original']['far']:.4f} -> {row['unlearned']['far']:.4f}, FAR@99 "
        f"{row['original']['far_at_99_known']:.4f} -> {row['unlearned']['far_at_99_known']:.4f}"
    )
    return row


# --- the results files ---------------------------------------------------------------------------------


def mean(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.fmean(values) if values else math.nan


def label(row: dict) -> str:
    """The method, and the options a --tune grid entry set on top of its photo recipe."""
    overrides = row.get("overrides") or {}
    return row["method"] + (" " + ", ".join(f"{k} {v}" for k, v in overrides.items()) if overrides else "")


def seeds_were(meta: dict) -> str:
    tuned = "--tune" in meta.get("command", "")
    return "tuning: the recipes were chosen on them" if tuned else "never used to choose anything"


def markdown(data: dict) -> str:
    meta, rows, repair = data["meta"], data["rows"], data["repair"]
    if not rows:  # a repair measurement alone
        lines = [
            f"# Forgetting photos: the repair measurement — {meta['device']}",
            "",
            f"torch {meta['torch']}, {meta['threads']} threads; {meta['minutes']} min in all.",
            "",
        ]
        return "\n".join(lines + ([meta["note"], ""] if meta.get("note") else []) + repair_lines(repair)) + "\n"
    lines = [
        f"# Forgetting photos — {meta['device']}",
        "",
        f"LFW-62, MobileFaceNet, each kind's original trained once on split seed 0 (2,421 training photos of 62 "
        f"people, 602 held out); scenario seeds {meta['seeds']} "
        f"({seeds_were(meta)}). Every run is "
        "judged against a reference retrained in the same run without the photos. *forget acc*: the forgotten "
        "training photos named correctly; *test*: every remaining held-out photo; *retain*: the training photos "
        f"kept; *per-photo AUC*: the LiRA test ({SHADOWS} shadow heads) telling the forgotten training photos from "
        "held-out photos (0.5: it cannot). Targets, judged seed by seed: identical to the reference (embedding); "
        f"forget acc within {ACC_TOLERANCE * 100:.0f} pp and per-photo AUC within {MIA_TOLERANCE} of the reference "
        f"(fine-tuned). torch {meta['torch']}, {meta['threads']} threads; {meta['minutes']} min in all.",
        "",
    ]
    if meta.get("note"):
        lines += [meta["note"], ""]
    lines += [
        "| kind | scenario | seed | method | photos (train/held-out) | forget acc (ref) | retain (ref) | test (ref) | "
        "per-photo AUC orig → unl (ref) | time s (ref s) | targets |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.get("failed"):
            lines.append(
                f"| {row['kind']} | {row['scenario']} | {row['seed']} | {label(row)} | | | | | | | "
                f"**failed**: {row['failed']} |"
            )
            continue
        u, r, o = row["unlearned"], row["reference"], row["original"]
        met = ", ".join(f"{k}: {'yes' if v else '**no**'}" for k, v in row["targets"].items())
        lines.append(
            f"| {row['kind']} | {row['scenario']} | {row['seed']} | {label(row)} | "
            f"{row['training_photos']}/{row['heldout_photos']} | {u['forget_acc']:.3f} ({r['forget_acc']:.3f}) | "
            f"{u['retain_acc']:.4f} ({r['retain_acc']:.4f}) | {u['test_acc']:.4f} ({r['test_acc']:.4f}) | "
            f"{o['per_photo_mia']:.3f} → {u['per_photo_mia']:.3f} ({r['per_photo_mia']:.3f}) | "
            f"{row['seconds']:.2f} ({row['reference_seconds']:.1f}) | {met} |"
        )
    groups = {}
    for row in rows:
        groups.setdefault((row["kind"], row["scenario"], label(row)), []).append(row)
    if groups:
        lines += [
            "",
            "Targets met, per group of seeds (and the means, for orientation only — the targets are judged per seed):",
            "",
            "| kind | scenario | method | seeds | targets met | forget acc gap | per-photo AUC gap | test gap "
            "| time ratio |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for (kind, scenario, method), rows_of_group in groups.items():
            met = sum(all(r["targets"].values()) for r in rows_of_group)
            group = [r for r in rows_of_group if not r.get("failed")]
            if not group:
                lines.append(
                    f"| {kind} | {scenario} | {method} | {len(rows_of_group)} | 0/{len(rows_of_group)} | | | | |"
                )
                continue
            lines.append(
                f"| {kind} | {scenario} | {method} | {len(rows_of_group)} | {met}/{len(rows_of_group)} | "
                f"{mean([r['unlearned']['forget_acc'] - r['reference']['forget_acc'] for r in group]):+.3f} | "
                f"{mean([r['unlearned']['per_photo_mia'] - r['reference']['per_photo_mia'] for r in group]):+.3f} | "
                f"{mean([r['unlearned']['test_acc'] - r['reference']['test_acc'] for r in group]) * 100:+.2f} pp | "
                f"{mean([r['time_ratio'] for r in group]):.4f} |"
            )
    outliers = next((r for r in rows if r.get("suspects")), None)
    if outliers:
        lines += ["", "The 20 most suspicious photos (outliers-20), as the finder gives them:", ""]
        lines += [
            f"- `{Path(s['file']).parent.name}/{Path(s['file']).name}` score {s['score']:+.3f}: "
            f"{s['reason'] or 'nothing unusual beyond its score'}"
            for s in outliers["suspects"]
        ]
    lines += repair_lines(repair)
    return "\n".join(lines) + "\n"


def repair_lines(repair: list[dict]) -> list[str]:
    """The repair measurement's section of the .md (nothing when it did not run)."""
    if not repair:
        return []
    lines = [
        "",
        "## Repair: forgetting the 20 most suspicious photos",
        "",
        f"Per seed, {STRANGERS} of the 62 people are strangers; a model is trained on the other 50, its 20 most "
        "suspicious photos are forgotten (the kind's default method) and the model is measured on every "
        "held-out photo left and on every stranger photo. FAR: stranger photos named as someone at the "
        "model's calibrated threshold (recalibrated after forgetting, the reference's too); FAR@99%: at the "
        "threshold that keeps 99 % of the held-out photos named correctly.",
        "",
        "| kind | seed | held-out acc before → after (ref) | known-accept before → after (ref) | "
        "FAR before → after (ref) | FAR@99% before → after (ref) |",
        "|---|---|---|---|---|---|",
    ]
    for row in repair:
        o, u, r = row["original"], row["unlearned"], row["reference"]
        lines.append(
            f"| {row['kind']} | {row['seed']} | {o['heldout_acc']:.4f} → {u['heldout_acc']:.4f} "
            f"({r['heldout_acc']:.4f}) | {o['known_accept']:.4f} → {u['known_accept']:.4f} "
            f"({r['known_accept']:.4f}) | {o['far']:.4f} → {u['far']:.4f} ({r['far']:.4f}) | "
            f"{o['far_at_99_known']:.4f} → {u['far_at_99_known']:.4f} ({r['far_at_99_known']:.4f}) |"
        )
    return lines


def save(out: Path, data: dict, started: float) -> None:
    data["meta"]["minutes"] = round((time.perf_counter() - started) / 60, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
    out.with_suffix(".md").write_text(markdown(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", default="3,4,5", help="scenario seeds (--tune used 0 and 1)")
    parser.add_argument("--kinds", default="embedding,finetuned")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--methods",
        default="",
        help="fine-tuned methods (default: the kind's default); second-retrain: a second exact retrain, the floor",
    )
    parser.add_argument("--grid", default="", help="--tune: a JSON list of SalUn option sets to try")
    parser.add_argument("--tune", action="store_true", help="try --grid on the fine-tuned kind (seeds 0,1)")
    parser.add_argument("--repair-seeds", default="", help="seeds of the repair measurement (empty: none)")
    parser.add_argument("--repair-kinds", default="embedding")
    parser.add_argument("--runs", default=str(ROOT / "runs"), help="where the trained originals are kept")
    parser.add_argument("--out", help="output stem (default tests/bench/results/photos-<device>)")
    parser.add_argument("--note", default="", help="a sentence for the results file (e.g. what did not run)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the .md from the .json")
    parser.add_argument("--reference-cache", help="a folder keeping the retrained references between runs")
    args = parser.parse_args()
    device = pick_device(args.device)
    out = Path(args.out) if args.out else RESULTS / f"photos{'-tune' if args.tune else ''}-{device.type}"
    if args.report_only:
        data = json.loads(out.with_suffix(".json").read_text())
        if args.note:  # kept in the .json too, so the next rewrite of the .md keeps it
            data["meta"]["note"] = args.note
            out.with_suffix(".json").write_text(json.dumps(data, indent=1))
        out.with_suffix(".md").write_text(markdown(data))
        return
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cache = CropCache()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    started = time.perf_counter()
    data = {
        "meta": {
            "device": describe_device(device),
            "seeds": seeds,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "shadows": SHADOWS,
            "note": args.note,
            "command": " ".join(sys.argv[1:]),
        },
        "rows": [],
        "repair": [],
    }
    grid = json.loads(args.grid) if args.grid else [{}]
    runs = Path(args.runs)
    for kind in [k for k in args.kinds.split(",") if k]:
        path = ensure_original(kind, runs / f"lfw62-mobilefacenet-{kind}-photos.ckpt", LFW, device, cache)
        original = Original(path, LFW, device, cache)
        if kind == "embedding":
            methods = [("exact", {})]
        elif args.tune:  # each grid entry: a method's options ("method": salun unless it says otherwise)
            methods = [(options.pop("method", "salun"), options) for options in grid]
        else:
            methods = [(m, {}) for m in (args.methods.split(",") if args.methods else [default_method(kind)])]
        for scenario in [s for s in args.scenarios.split(",") if s]:
            for seed in seeds:
                kept = Path(args.reference_cache) if args.reference_cache else None
                data["rows"] += run_scenario(original, scenario, seed, methods, kept)
                save(out, data, started)
    for kind in [k for k in args.repair_kinds.split(",") if k and args.repair_seeds]:
        for seed in [int(s) for s in args.repair_seeds.split(",") if s]:
            data["repair"].append(repair_seed(kind, seed, device, cache))
            save(out, data, started)
    save(out, data, started)
    log(f"wrote {out}.md and {out}.json")


if __name__ == "__main__":
    main()

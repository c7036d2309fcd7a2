"""Forget people: the job behind ``python -m forget_desktop unlearn`` and the window's Forget panel.

Loads the model and its training data, scores the original, unlearns a copy, optionally retrains
the reference, scores both, and writes the new checkpoint and the report atomically. The input
checkpoint is never modified; a cancelled or failed job writes nothing.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..common.atomic import write_json
from ..common.devices import describe_device
from ..common.errors import ForgetError
from ..common.jobs import Progress, plural
from ..common.plan import Part, Plan, stages_of
from ..common.rates import Stage
from ..data.dataset import Exclusion, resolve_identities
from ..data.gallery import gallery_for_checkpoint
from ..faces.crops import CropCache, CropSet, CropSpec
from ..model.checkpoint import Checkpoint, load_checkpoint, now_iso, parent_record, save_checkpoint
from ..model.embeddings import learned_view
from ..model.heads import keep_classes
from ..model.models import LearnedHead, with_head
from ..model.openset import anchor_of, deciding_head, fit_open_set
from ..model.training import Recipe
from . import UnlearnConfig, default_method, get_method
from .evaluation import ForgetSplits, Outputs, evaluate, evaluation_work, forget_logits, js_divergence
from .lira import SHADOWS, judged, lira_parts, per_photo_mia, shadow_population, shadow_stats
from .photos import exact_forget_photos, photo_options, photo_splits
from .report import SCORE_KEYS, ForgetReport, ModelScores


@dataclass
class UnlearnRequest:
    """What the user asked for (mirrors the ``unlearn`` command's options)."""

    model: Path
    data: Path
    forget: list[str]
    method: str | None = None  # None: the default for the model's kind
    options: dict = field(default_factory=dict)
    out: Path | None = None
    report: Path | None = None
    reference: bool = True
    seed: int = 0
    drop: tuple[str, ...] = ()  # more classes to leave out of the saved model (people forgotten before)
    exclude: Exclusion | None = None  # people and photos forgotten before: never read from ``data``
    # photos to forget (scope "photos": ``forget`` is then unused), each inside ``data``
    forget_photos: list[Path] = field(default_factory=list)
    per_photo_mia: bool = True  # run the per-photo membership test (LiRA with shadow heads)


@dataclass
class UnlearnOutcome:
    """The unlearned model (its forgotten people's slots dropped: shaped as if trained without them) and
    the report (which judges the model as the method left it, in the original's classes)."""

    checkpoint: Checkpoint
    report: ForgetReport
    photos: dict[str, list[str]] = field(default_factory=dict)  # scope "photos": person -> sha256 of the photos
    kept: Any = None  # what ``keep`` returned


def load_training_sets(
    meta: dict,
    data: str | os.PathLike,
    cache: CropCache | None = None,
    progress: Progress | None = None,
    exclude: Exclusion | None = None,
) -> tuple[CropSet, CropSet]:
    """The train and held-out sets a checkpoint was made from (faces from the crop cache, or MNIST)."""
    if (meta.get("split") or {}).get("dataset") == "mnist":
        from ..data.mnist import load_mnist

        return load_mnist(data, "train"), load_mnist(data, "test")
    gallery = gallery_for_checkpoint(meta, data, CropSpec.from_dict(meta["crop"]), cache, progress, exclude=exclude)
    return gallery.train, gallery.heldout


def forget_labels(names: list[str], classes: list[str]) -> list[int]:
    """Class indices of the people to forget; refuses an empty request or forgetting everyone."""
    names = [n for n in (n.strip() for n in names) if n]
    if not names:
        raise ForgetError("Choose at least one person to forget.")
    resolved = resolve_identities(names, classes)
    if len(resolved) >= len(classes):
        raise ForgetError("Forgetting every identity would leave nothing to recognise; keep at least one.")
    return sorted(classes.index(name) for name in resolved)


def config_for(meta: dict, device: torch.device, seed: int) -> UnlearnConfig:
    """What every method may use, from the original checkpoint's metadata (options come per run)."""
    return UnlearnConfig(
        device=device,
        recipe=Recipe.from_dict(meta["recipe"]),
        start=dict(meta.get("start") or {}),
        seed=seed,
        num_classes=len(meta["classes"]),
    )


def run_method(
    name: str,
    model: torch.nn.Module,
    splits: ForgetSplits,
    config: UnlearnConfig,
    progress: Progress,
    options: dict | None = None,
) -> tuple[torch.nn.Module, float]:
    """Unlearn a copy of ``model`` with method ``name`` and ``options`` (defaults where missing);
    returns it and the seconds it took."""
    method = get_method(name)
    config = copy.copy(config)
    config.options = method.resolve(options)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    result = method.unlearn(copy.deepcopy(model), splits.retain_train, splits.forget_train, config, progress)
    if config.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    state = {k: t for k, t in result.state_dict().items() if t.is_floating_point() and not k.endswith("threshold")}
    if not all(torch.isfinite(t).all() for t in state.values()):  # (the threshold is set after: NaN until then)
        raise ForgetError(
            f"{method.title} diverged (its weights became infinite); try a smaller learning rate or fewer steps."
        )
    return result.eval(), seconds


def finish_model(
    model: torch.nn.Module,
    splits: ForgetSplits,
    device: torch.device,
    progress: Progress | None = None,
    heldout: CropSet | None = None,
    cache: CropCache | None = None,
) -> None:
    """Give an unlearned (or retrained) model its stranger check from the retained people only: the
    centres (an anchored model's anchor's from the frozen embeddings, an older fine-tuned model's from its
    new features), and the threshold from their held-out photos (``heldout``: every held-out photo left,
    when photos rather than people are forgotten)."""
    fit_open_set(
        model, splits.retain_train, splits.retain_test if heldout is None else heldout, device, progress, cache
    )


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when two tensors have the same shape, type and bytes (NaN included)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return torch.equal(a.detach().cpu().reshape(-1).view(torch.uint8), b.detach().cpu().reshape(-1).view(torch.uint8))


def compare_models(a: torch.nn.Module, b: torch.nn.Module) -> dict:
    """Every tensor of ``a`` against ``b``'s: identical only if all are bit for bit equal."""
    first, second = a.state_dict(), b.state_dict()
    names = sorted(set(first) | set(second))
    different = [n for n in names if n not in first or n not in second or not same_bits(first[n], second[n])]
    largest = max(
        (
            float((first[n].cpu().double() - second[n].cpu().double()).abs().max())
            for n in different
            if n in first and n in second and first[n].shape == second[n].shape and first[n].numel()
        ),
        default=0.0,
    )
    return {
        "identical": not different,
        "tensors": len(names),
        "different": different[:20],
        "max_abs_difference": largest,
    }


def summarise(metrics: dict, out: Outputs, reference_out: Outputs | None) -> ModelScores:
    """The scores of one judged model, with its JS divergence to the reference."""
    return ModelScores(
        **{key: metrics[key] for key in SCORE_KEYS},
        js_to_reference=(
            js_divergence(forget_logits(out), forget_logits(reference_out)) if reference_out is not None else None
        ),
        per_identity=metrics["per_identity"],
        confusion=metrics["confusion"],
    )


def without_slots(model: torch.nn.Module, original: Checkpoint, keep: list[int]):
    """The unlearned model as it is saved: only the kept classes' slots (its anchor's too), on the
    original's backbone for an embedding model."""
    head, anchor = keep_classes(model.head, keep), anchor_of(model)
    if anchor is not None:
        anchor = with_head(anchor, keep_classes(anchor.head, keep))
    return with_head(original.model if isinstance(model, LearnedHead) else model.cpu(), head, anchor)


LOSS_LIMIT = 0.05  # share of everyone else's unseen photos an approximate method may stop naming correctly,
LOSS_PHOTOS = 3  # and at least this many photos before it counts (on a small gallery one photo is many points)


def check_everyone_else(title: str, before: dict, after: dict, photos: int, kind: str) -> None:
    """Refuse a version that names too few of the retained people's unseen photos correctly (``before`` and
    ``after``: ``evaluate``'s metrics; ``photos``: how many there are): a model that forgot more than it was
    asked to (SCRUB, forgetting five LFW people with 637 training photos among them, once went from 99 % to
    4 %) is no answer to a forget request. Nothing is saved or recorded."""
    if photos == 0:
        return
    named = [round(metrics["retain_test_acc"] * photos) for metrics in (before, after)]
    lost = named[0] - named[1]
    if lost < LOSS_PHOTOS or lost / photos <= LOSS_LIMIT:
        return
    fallback = get_method(default_method(kind))
    instead = fallback.title if fallback.title != title else get_method("retrain").title
    raise ForgetError(
        f"{title} forgot too much: everyone else's unseen photos were named correctly {named[0] / photos:.1%} of the "
        f"time before and {named[1] / photos:.1%} after, so this version was not kept and nothing was recorded; "
        f"try {instead}, or forget fewer people at once."
    )


def check_output_paths(request: UnlearnRequest) -> None:
    source = request.model.expanduser().resolve()
    for path in (request.out, request.report):
        if path is not None and path.expanduser().resolve() == source:
            raise ForgetError("The output would overwrite the input model; choose another file name.")


def unlearn_job(
    request: UnlearnRequest,
    device: torch.device,
    progress: Progress | None = None,
    cache: CropCache | None = None,
    original: Checkpoint | None = None,
    sets: tuple[CropSet, CropSet] | None = None,
    keep: Callable[[UnlearnOutcome, Progress], Any] | None = None,
) -> UnlearnOutcome:
    """Run one forget request end to end (see the module docstring). ``original`` and ``sets``
    (train, held-out) may be passed when they are already loaded. ``keep(outcome, progress)``, when given, is
    the job's last stage (saving and committing the result, say): planned with the others, so the time left
    counts it, and what it returns is ``outcome.kept``."""
    progress = progress or Progress()
    check_output_paths(request)
    original = original or load_checkpoint(request.model)
    method_name = request.method or default_method(original.kind)
    method = get_method(method_name)
    options = method.resolve(request.options)
    if method.exact and original.kind != "embedding":
        raise ForgetError(
            f"{method.title} needs an embedding model (a frozen backbone); for this fine-tuned model "
            "choose Retrain (exact, but slow) or an approximate method."
        )
    classes = original.classes
    scope = "photos" if request.forget_photos else "people"
    labels = forget_labels(request.forget, classes) if scope == "people" else []
    if sets is None:
        progress(0.0, "Loading the training photos")
        sets = load_training_sets(original.meta, request.data, cache, progress.sub(0.0, 0.1), request.exclude)
        progress = progress.sub(0.1, 1.0)
    learned, train, heldout = learned_view(original.model, *sets, device, cache, progress.sub(0.0, 0.05))
    progress = progress.sub(0.05, 1.0)
    chosen, calibration = None, None
    if scope == "photos":
        chosen = photo_splits(request.forget_photos, request.data, train, heldout, classes)
        splits, calibration, labels = chosen.splits, chosen.heldout, chosen.splits.forget_labels
        options = method.resolve(photo_options(method_name, request.options))
    else:
        splits = ForgetSplits.from_sets(train, heldout, classes, labels)
        if len(splits.forget_train) == 0:
            raise ForgetError("None of the chosen people's training photos were found in the data folder.")
    config = config_for(original.meta, device, request.seed)
    with_reference = (request.reference or method.exact) and not method.reference  # "exact" is always checked
    lira = lira_parts(original, len(train) + len(heldout), train.spec, cache, device) if request.per_photo_mia else []
    plan = Plan(
        progress,
        forget_stages(splits, config, method_name, options, original.kind, with_reference, lira, keep is not None),
    )
    evaluate_stage = f"evaluate-{original.kind}"
    with plan.stage(f"evaluate-original-{original.kind}") as step:
        before, before_out = evaluate(
            learned, splits, config.recipe, device, seed=request.seed, progress=step, relearn_steps_expected=0
        )
    with plan.stage(f"method-{original.kind}:{method_name}") as step:
        if scope == "photos" and method.exact:
            unlearned, seconds = run_exact_photos(learned, splits, config, step)
        else:
            unlearned, seconds = run_method(method_name, learned, splits, config, step, options)
    with plan.stage(f"finish-{original.kind}") as step:
        finish_model(unlearned, splits, device, step, calibration, cache)
    with plan.stage(evaluate_stage) as step:
        after, after_out = evaluate(unlearned, splits, config.recipe, device, seed=request.seed, progress=step)
    if not (method.exact or method.reference):
        check_everyone_else(method.title, before, after, len(splits.retain_test), original.kind)
    reference_entry, reference_out, reference_seconds, comparison = None, None, None, None
    if with_reference:
        with plan.stage(f"retrain-{original.kind}") as step:
            reference, reference_seconds = run_method("retrain", learned, splits, config, step)
        with plan.stage(f"finish-{original.kind}") as step:
            finish_model(reference, splits, device, step, calibration, cache)
        with plan.stage(evaluate_stage) as step:
            ref_metrics, reference_out = evaluate(
                reference, splits, config.recipe, device, seed=request.seed, progress=step
            )
        reference_entry = summarise(ref_metrics, reference_out, None)
        if method.exact:
            comparison = compare_models(unlearned, reference)
    elif method.reference:
        reference_entry, reference_out, reference_seconds = summarise(after, after_out, None), after_out, seconds
    per_photo = None
    if request.per_photo_mia:
        judged_outs = {"original": before_out, "unlearned": after_out}
        if reference_out is not None:
            judged_outs["reference"] = reference_out
        with plan.stage(f"lira-{original.kind}") as step:
            per_photo = photo_membership(
                original, sets, (train, heldout), splits, judged_outs, scope, device, cache, request.seed, lira, step
            )
    names = [classes[i] for i in labels]
    report = ForgetReport(
        method=method_name,
        exact=method.exact or method.reference,
        baseline=method.baseline,
        options=options,
        forget=tuple(names),
        kind=original.kind,
        device=describe_device(device),
        seconds=round(seconds, 4),
        reference_seconds=None if reference_seconds is None else round(reference_seconds, 4),
        time_ratio=None if not reference_seconds else round(seconds / reference_seconds, 4),
        identical_to_reference=None if comparison is None else comparison["identical"],
        reference_comparison=comparison,
        created=now_iso(),
        model=str(request.model),
        seed=request.seed,
        original=summarise(before, before_out, reference_out),
        unlearned=summarise(after, after_out, reference_out),
        reference=reference_entry,
        scope=scope,
        photos=chosen.count if chosen is not None else 0,
        per_photo_mia=per_photo,
    )
    earlier = set(original.meta.get("forgotten") or []) | set(request.drop)
    gone = (set(labels) if scope == "people" else set()) | {i for i, c in enumerate(classes) if c in earlier}
    slots = [i for i in range(len(classes)) if i not in gone]
    model = without_slots(unlearned, original, slots)
    checkpoint = Checkpoint(model, saved_meta(original, report, slots, float(deciding_head(model).threshold)), None)
    progress.check()
    if request.out is not None:
        report = report.with_(output_model=str(request.out))
    if request.report is not None:
        write_json(request.report, report.to_dict())
    if request.out is not None:
        try:
            checkpoint.path = save_checkpoint(checkpoint.model, checkpoint.meta, request.out)
        except BaseException:
            if request.report is not None:
                Path(request.report).unlink(missing_ok=True)  # no report for a model that was not saved
            raise
    outcome = UnlearnOutcome(checkpoint, report, chosen.digests if chosen is not None else {})
    if keep is not None:
        with plan.stage(f"keep-{original.kind}") as step:
            outcome.kept = keep(outcome, step)
    if chosen is not None:
        progress(1.0, f"Forgot {plural(chosen.count, 'photo')} of {', '.join(names)}")
    else:
        progress(1.0, f"Forgot {', '.join(names)}")
    return outcome


def run_exact_photos(
    model: torch.nn.Module, splits: ForgetSplits, config: UnlearnConfig, progress: Progress
) -> tuple[torch.nn.Module, float]:
    """Exact forgetting of photos on an embedding model (see ``photos``); returns it and its seconds."""
    started = time.perf_counter()
    result = exact_forget_photos(copy.deepcopy(model), splits.retain_train, splits.forget_train, progress)
    return result.eval(), time.perf_counter() - started


def photo_membership(
    original: Checkpoint,
    crops: tuple[CropSet, CropSet],
    learned_sets: tuple[CropSet, CropSet],
    splits: ForgetSplits,
    outs: dict[str, Outputs],
    scope: str,
    device: torch.device,
    cache: CropCache | None,
    seed: int,
    parts: list[Part],
    progress: Progress,
) -> dict | None:
    """The per-photo membership test of the report (``lira``): shadow heads, then each judged model's
    attack AUC on the forgotten training photos, and each photo's score (``parts``: its stages,
    ``lira.lira_parts``)."""
    plan = Plan(progress, parts)  # made first: a test that cannot run measures nothing
    if not splits.forget_train.digests:
        return None  # photos without files (MNIST): nothing to name them by
    with plan.stage("features") as step:
        step(0.0, "Per-photo test: the shadows' features")
        features, labels, digests, kind = shadow_population(original, crops, learned_sets, device, cache, step)
    with plan.stage(parts[-1].kind) as step:
        stats = shadow_stats(features, labels, digests, len(original.classes), kind, SHADOWS, seed, step)
    retain_sample = splits.sample_retain_train(1000, seed)  # the photos ``evaluate`` scored
    judged_models = {role: judged(out, splits, retain_sample) for role, out in outs.items()}
    return per_photo_mia(stats, judged_models, scope, seed)


def saved_meta(original: Checkpoint, report: ForgetReport, keep: list[int], threshold: float) -> dict:
    """The unlearned checkpoint's metadata: the original's, with only the kept classes, and no word of
    whom it forgot (their names stay in the records; the file is what people copy and share)."""
    parent = parent_record(original)
    root = original.meta.get("root") or {
        "path": parent["path"],
        "sha256": parent["sha256"],
        "name": Path(parent["path"] or "model").stem,
    }
    meta = {
        **copy.deepcopy(original.meta),
        "classes": [original.classes[i] for i in keep],
        "created": now_iso(),
        "parent": parent,
        "root": root,
        "unlearning": {
            "method": report.method,
            "options": report.options,
            "seconds": report.seconds,
            "device": report.device,
            "identical_to_reference": report.identical_to_reference,
            "people": len(report.forget) if report.scope == "people" else 0,
            **({"photos": report.photos} if report.scope == "photos" else {}),
        },
        "metrics": {
            **{k: getattr(report.unlearned, k) for k in SCORE_KEYS},
            "heldout_acc": report.unlearned.retain_test_acc,
            "threshold": threshold,
        },
    }
    meta.pop("forgotten", None)
    meta.pop("enrolled", None)
    return meta


def forget_stages(
    splits: ForgetSplits,
    config: UnlearnConfig,
    method: str,
    options: dict,
    kind: str,
    reference: bool,
    lira: list[Part],
    keep: bool = False,
) -> list[Part]:
    """The job's stages in order, each with its units of work (``stage_costs``; ``lira``: the per-photo
    test's, none when it is not run; ``keep``: a last stage that keeps the result, one unit), on the job's
    device: what its bar and time left rest on (see ``common.plan``)."""
    costs, on = stage_costs(splits, config, method, options, kind), config.device.type
    # the original still knows them: its relearn test ends at once, so its evaluation is a stage kind of its own
    own = [("evaluate-original", costs["score"]), (f"method-{kind}:{method}", costs["method"])]
    own += [("finish", costs["finish"]), ("evaluate", costs["evaluate"])]
    checked = [("retrain", costs["retrain"]), ("finish", costs["finish"]), ("evaluate", costs["evaluate"])]
    parts = own + [(name, units if reference else 0.0) for name, units in checked]
    stages: list[Part] = [Stage(name if ":" in name else f"{name}-{kind}", units, on) for name, units in parts]
    test = [stage for part in lira for stage in stages_of(part)] or [Stage(f"lira-{kind}", 0.0, on)]
    return [*stages, (f"lira-{kind}", test), Stage(f"keep-{kind}", 1.0 if keep else 0.0, on)]


def stage_costs(splits: ForgetSplits, config: UnlearnConfig, method: str, options: dict, kind: str) -> dict:
    """Estimated work of each stage of a job, in image forward passes: what its time-left rests on."""
    recipe = config.recipe
    scoring, relearning = evaluation_work(splits)
    retrain = get_method("retrain")
    return {
        "score": scoring,  # the original's evaluation: its relearn test stops at step 0
        "evaluate": scoring + relearning,
        "method": get_method(method).cost(
            len(splits.forget_train), len(splits.retain_train), get_method(method).resolve(options), recipe
        ),
        "finish": len(splits.retain_train) + len(splits.retain_test) if kind == "finetuned" else 0.0,
        "retrain": retrain.cost(len(splits.forget_train), len(splits.retain_train), retrain.resolve({}), recipe),
    }

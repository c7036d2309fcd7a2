"""Headless commands on the same core and the same records as the window: ``predict``, ``unlearn``,
``outliers``, ``download``, ``forgotten`` and ``certificate``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .console import run_main
from .core.common.devices import DEVICE_CHOICES, pick_device
from .core.common.errors import ForgetError
from .core.common.images import is_image_file


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given; folders replaced by the images inside them (recursively, sorted)."""
    paths = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
        else:
            paths.append(path)
    return paths


def predict_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forget_desktop predict", description="Name the faces in images; one JSON object per line."
    )
    parser.add_argument("--model", required=True, help="checkpoint from train_face.py or unlearn")
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument(
        "--threshold",
        type=float,
        help="similarity to the chosen person's centre below which a face is Unknown (default: "
        "the model's calibrated threshold; softmax confidence for older models)",
    )
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    add_records_option(parser)
    add_detector_option(parser)
    args = parser.parse_args(argv)
    from .core.model.checkpoint import load_checkpoint
    from .core.recognition.recognise import Recogniser, predict_files
    from .core.records.models_seen import known_people

    records = open_records(args)
    checkpoint = load_checkpoint(args.model)
    still = records.requests.forgotten_among(known_people(checkpoint))
    gone = set(still) | set(checkpoint.meta.get("forgotten") or [])
    if still:
        print(
            f"{checkpoint.path.name} still recognises {len(still)} forgotten "
            f"{'person' if len(still) == 1 else 'people'}: they are reported as Unknown. Use a version without "
            "them, or forget them from this model with unlearn.",
            file=sys.stderr,
        )
    records.seen.record(checkpoint, "opened")
    suppressed = frozenset(i for i, c in enumerate(checkpoint.classes) if c in gone)
    recogniser = Recogniser(
        checkpoint,
        pick_device(args.device),
        threshold=args.threshold,
        suppressed=suppressed,
        detector_name=args.detector,
    )
    paths = expand_inputs(args.images)
    if not paths:
        raise ForgetError(f"No image was found in {', '.join(args.images)}.")
    failures = 0
    for record in predict_files(paths, recogniser):
        failures += record["error"] is not None
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 1 if paths and failures == len(paths) else 0


def add_detector_option(parser: argparse.ArgumentParser) -> None:
    """``--detector``: which face detector finds the faces (default: the one the model was trained with)."""
    from .core.faces.detector import DETECTORS

    parser.add_argument(
        "--detector", choices=DETECTORS, help="face detector (default: the one whose faces the model was trained on)"
    )


def parse_options(pairs: list[str]) -> dict:
    """``--option name=value`` pairs → a dict (values are checked by the method)."""
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ForgetError(f"Write options as name=value, not '{pair}'.")
        options[name.strip()] = value.strip()
    return options


def unlearn_command(argv: list[str]) -> int:
    from .core.unlearning import DEFAULT_METHODS, REGISTRY

    parser = argparse.ArgumentParser(
        prog="python -m forget_desktop unlearn",
        description="Make a model forget people; writes a new checkpoint and a report.",
        epilog="Methods and options: "
        + "; ".join(
            f"{m.name} ({', '.join(f'{o.name}={o.default}' for o in m.options) or 'no options'})"
            for m in REGISTRY.values()
        ),
    )
    parser.add_argument("--model", required=True, help="checkpoint to start from (never modified)")
    parser.add_argument("--data", required=True, help="the data folder the model was trained on")
    chosen = parser.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--forget", help="NAME[,NAME...] of the people (or classes) to forget")
    chosen.add_argument(
        "--forget-photos",
        metavar="LIST",
        help="a text file with one photo path per line, each inside --data: forget those photos (their people "
        "stay known)",
    )
    parser.add_argument(
        "--method",
        choices=list(REGISTRY),
        help="default: " + ", ".join(f"{m} for {kind} models" for kind, m in DEFAULT_METHODS.items()),
    )
    parser.add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE", help="method option, repeatable (see below)"
    )
    parser.add_argument("--out", required=True, help="new checkpoint (written atomically)")
    parser.add_argument("--report", help="also write the report as JSON (the records keep it either way)")
    parser.add_argument("--no-reference", action="store_true", help="skip retraining the reference model")
    parser.add_argument(
        "--no-per-photo-mia", action="store_true", help="skip the per-photo membership test (LiRA with shadow heads)"
    )
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--seed", type=int, default=0)
    add_records_option(parser)
    add_detector_option(parser)
    args = parser.parse_args(argv)
    from .console import tqdm_progress
    from .core.app.commits import commit_forget, plan_forget, plan_forget_photos, save_uncommitted, with_names
    from .core.common.atomic import sha256_file, write_json
    from .core.faces.crops import CropCache
    from .core.model.checkpoint import load_checkpoint
    from .core.records.models_seen import known_people
    from .core.unlearning.job import UnlearnRequest, check_output_paths, unlearn_job
    from .core.unlearning.photos import read_photo_list

    records = open_records(args)
    photos = read_photo_list(args.forget_photos) if args.forget_photos else []
    names = [n for n in (args.forget or "").split(",") if n.strip()]
    original = with_names(load_checkpoint(args.model), Path(args.data), records)
    request = UnlearnRequest(
        Path(args.model),
        Path(args.data),
        names,
        args.method,
        parse_options(args.option),
        None,
        None,
        not args.no_reference,
        args.seed,
        drop=tuple(records.requests.forgotten_among(known_people(original))),
        exclude=records.requests.exclusion(except_names=tuple(names)),
        forget_photos=photos,
        per_photo_mia=not args.no_per_photo_mia,
    )
    if args.detector:  # another detector's crops (the unlearned model records which)
        original.meta["crop"] = original.crop.with_detector(args.detector).to_dict()
    out = Path(args.out)
    check_output_paths(dataclasses.replace(request, out=out, report=Path(args.report) if args.report else None))
    cache = CropCache()
    with tqdm_progress("unlearn") as progress:
        outcome = unlearn_job(request, pick_device(args.device), progress, cache, original=original)
    checkpoint = outcome.checkpoint
    digest = save_uncommitted(checkpoint, out, records, exclusive=False)
    if photos:
        plan = plan_forget_photos(outcome.photos, cache)
    else:
        plan = plan_forget(outcome.report, Path(args.data), cache)
    report = commit_forget(records, outcome.report, checkpoint, digest, sha256_file(args.model), plan)
    if args.report:
        shown = report.renamed({n: records.audit.identity(n) for n in report.forget})
        write_json(args.report, shown.to_dict())
    print_report(report)
    print(
        f"Wrote {out}" + (f" and {args.report}" if args.report else "") + f"; forget request {report.request_id} "
        f"is in the records at {records.path} (certificate: python -m forget_desktop certificate "
        f"{report.request_id} --out FILE.pdf)"
    )
    return 0


def print_report(report) -> None:
    """The report as a small table on stdout."""
    from .core.unlearning import method_title

    print(
        f"{'model':10} {'forget-train':>12} {'forget-test':>11} {'retain-test':>11} {'MIA AUC':>8} "
        f"{'probe':>6} {'relearn':>7} {'named as other':>14}"
    )
    for name, entry in report.scores().items():
        print(
            f"{name:10} {entry.forget_train_acc:12.1%} {entry.forget_test_acc:11.1%} "
            f"{entry.retain_test_acc:11.1%} {entry.mia_auc:8.3f} {entry.probe_acc:6.1%} "
            f"{entry.relearn_steps:7d} {entry.named_as_other:14.1%}"
        )
    timing = f"{method_title(report.method)} took {report.seconds:.3f} s on {report.device}"
    if report.reference_seconds:
        timing += f"; retraining took {report.reference_seconds:.3f} s (ratio {report.time_ratio:.3f})"
    print(timing)
    if report.identical_to_reference is not None:
        comparison = report.reference_comparison
        print(
            f"identical to the retrained reference: {str(report.identical_to_reference).lower()} "
            f"({comparison['tensors']} tensors compared"
            + (f"; differing: {', '.join(comparison['different'])}" if comparison["different"] else "")
            + ")"
        )
    mia = report.per_photo_mia
    if mia:
        print(
            f"per-photo membership test (LiRA, {mia['shadows']} shadow heads; {mia['forgotten_photos']} forgotten "
            f"photos against {mia['unseen_photos']} {mia['against']}): attack AUC "
            + ", ".join(f"{m} {mia[m]:.3f}" for m in ("original", "unlearned", "reference") if mia.get(m) is not None)
        )
    if report.erased is not None:
        print(f"erased: {report.erased.cached_crops} cached face crops, {report.erased.cached_embeddings} embeddings")


def outliers_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forget_desktop outliers",
        description="The photos that do not belong, most suspicious first: one JSON object per line (file, person, "
        "score, reason, closest_other, …). A score above 0: the photo is closer to another person than to its own.",
    )
    parser.add_argument("--model", required=True, help="a checkpoint from train_face.py or unlearn")
    parser.add_argument("--data", required=True, help="the data folder the model was trained on")
    parser.add_argument("--top", type=int, help="print only the N most suspicious photos")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    add_records_option(parser)
    args = parser.parse_args(argv)
    if args.top is not None and args.top < 1:
        raise ForgetError("--top must be a positive number of photos.")
    from .console import tqdm_progress
    from .core.app.commits import with_names
    from .core.data.outliers import find_outliers, frozen_embeddings, relative_file
    from .core.faces.crops import CropCache
    from .core.model.checkpoint import load_checkpoint
    from .core.unlearning.job import load_training_sets

    records = open_records(args)
    checkpoint = with_names(load_checkpoint(args.model), Path(args.data), records)
    if checkpoint.crop.align == "none":
        raise ForgetError("The outlier finder works on face models; this model reads whole images.")
    device, cache = pick_device(args.device), CropCache()
    with tqdm_progress("outliers") as progress:
        crops = load_training_sets(
            checkpoint.meta, args.data, cache, progress.sub(0.0, 0.5), records.requests.exclusion()
        )
        embeddings = frozen_embeddings(checkpoint, *crops, device, cache, progress.sub(0.5, 0.8))[:2]
        kept = records.requests.kept_photos()
        suspects = find_outliers(checkpoint.classes, crops, embeddings, cache, kept, progress.sub(0.8, 1.0))
    if kept:
        print(f"{len(kept)} photos you chose to keep are not listed.", file=sys.stderr)
    for suspect in suspects[: args.top]:
        print(json.dumps({**suspect.to_json(), "file": relative_file(suspect.file, Path(args.data))}), flush=True)
    return 0


def forgotten_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forget_desktop forgotten",
        description="Every forget request in the records, one JSON object per line (oldest first).",
    )
    add_records_option(parser)
    args = parser.parse_args(argv)
    for request in open_records(args).requests.all():
        print(json.dumps(request.to_json(), ensure_ascii=False), flush=True)
    return 0


def certificate_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forget_desktop certificate",
        description="Write the certificate of one forget request: .json, .html or .pdf, by the extension.",
    )
    parser.add_argument("id", type=int, help="the request id (see: python -m forget_desktop forgotten)")
    parser.add_argument("--out", required=True, help="FILE.json, FILE.html or FILE.pdf")
    add_records_option(parser)
    args = parser.parse_args(argv)
    from .core.records.certificate import certificate, certificate_html, write_certificate

    records = open_records(args)
    if Path(args.out).suffix.lower() == ".pdf":
        from .ui.certificate_pdf import write_pdf

        path = write_pdf(certificate_html(certificate(records, args.id)), args.out)
    else:
        path = write_certificate(records, args.id, args.out)
    print(path)
    return 0


def add_records_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--records",
        metavar="FILE",
        help="the records database (default: $FORGET_RECORDS, else records.db in the app's data folder, "
        "shared with the window)",
    )


def open_records(args):
    from .core.records.store import Records

    records = Records(args.records)
    if records.recovery_problem:
        print(records.recovery_problem, file=sys.stderr)
    return records


def download_command(argv: list[str]) -> int:
    from .core.common import downloads

    parser = argparse.ArgumentParser(
        prog="python -m forget_desktop download",
        description="Fetch pretrained weights or the LFW demo (needs internet, or $FORGET_DOWNLOAD_MIRROR); "
        "progress on stderr, the path written on stdout.",
    )
    parser.add_argument(
        "what",
        nargs="?",
        choices=(*downloads.ITEMS, "gdrive"),
        help="mobilefacenet / vggface2: backbone weights where the app looks for them; lfw: the "
        "62-person LFW demo; gdrive: a published weights folder via gdown",
    )
    parser.add_argument("--list", action="store_true", help="print one JSON line per item (name, url, sha256, bytes)")
    parser.add_argument(
        "--dest", help="target folder (lfw: default <app data>/lfw-demo; gdrive: default <app data>/forget_downloads)"
    )
    parser.add_argument("--folder-id", help="Google Drive folder id (gdrive; or $FORGET_GDRIVE_FOLDER)")
    args = parser.parse_args(argv)
    if args.list:
        for item in downloads.ITEMS.values():
            print(json.dumps(item.to_json()))
        return 0
    if not args.what:
        parser.error("say what to download, or pass --list")
    from .console import tqdm_progress

    with tqdm_progress(args.what) as progress:
        if args.what == "lfw":
            paths = [downloads.download_lfw_people(args.dest or downloads.default_lfw_dir(), progress=progress)]
        elif args.what == "gdrive":
            paths = downloads.download_gdrive_folder(args.folder_id, args.dest, progress)
        else:
            paths = [downloads.download_weights(args.what, progress)]
    for path in paths:
        print(path)
    return 0


COMMANDS = {
    "predict": predict_command,
    "unlearn": unlearn_command,
    "outliers": outliers_command,
    "download": download_command,
    "forgotten": forgotten_command,
    "certificate": certificate_command,
}


def run_command(name: str, argv: list[str]) -> int:
    """Run one headless command; any failure becomes one sentence on stderr."""
    return run_main(lambda: COMMANDS[name](argv))

"""Headless commands on the same core as the window: ``predict`` (and ``unlearn``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .core.devices import DEVICE_CHOICES, pick_device
from .console import run_main
from .core.errors import ForgetError
from .core.images import is_image_file


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
    parser = argparse.ArgumentParser(prog="python -m forget_desktop predict",
                                     description="Name the faces in images; one JSON object per line.")
    parser.add_argument("--model", required=True, help="checkpoint from train_face.py or unlearn")
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument("--threshold", type=float, help="confidence below which a face is Unknown")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    args = parser.parse_args(argv)
    from .core.checkpoint import load_checkpoint
    from .core.recognise import Recogniser, predict_files

    recogniser = Recogniser(load_checkpoint(args.model), pick_device(args.device), threshold=args.threshold)
    paths = expand_inputs(args.images)
    failures = 0
    for record in predict_files(paths, recogniser):
        failures += record["error"] is not None
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 1 if paths and failures == len(paths) else 0


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
    from .core.unlearning import DEFAULT_METHOD, REGISTRY

    parser = argparse.ArgumentParser(
        prog="python -m forget_desktop unlearn",
        description="Make a model forget people; writes a new checkpoint and a report.",
        epilog="Methods and options: " + "; ".join(
            f"{m.name} ({', '.join(f'{o.name}={o.default}' for o in m.options) or 'no options'})"
            for m in REGISTRY.values()))
    parser.add_argument("--model", required=True, help="checkpoint to start from (never modified)")
    parser.add_argument("--data", required=True, help="the data folder the model was trained on")
    parser.add_argument("--forget", required=True, help="NAME[,NAME...] of the people (or classes) to forget")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=list(REGISTRY))
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="method option, repeatable (see below)")
    parser.add_argument("--out", required=True, help="new checkpoint (written atomically)")
    parser.add_argument("--report", required=True, help="report JSON (written atomically)")
    parser.add_argument("--no-reference", action="store_true", help="skip retraining the reference model")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from .console import tqdm_progress
    from .core.unlearn_job import UnlearnRequest, unlearn_job

    request = UnlearnRequest(Path(args.model), Path(args.data), args.forget.split(","), args.method,
                             parse_options(args.option), Path(args.out), Path(args.report),
                             not args.no_reference, args.seed)
    device = pick_device(args.device)
    with tqdm_progress("unlearn") as progress:
        outcome = unlearn_job(request, device, progress)
    report = outcome.report
    rows = [("original", report["original"]), ("unlearned", report["unlearned"])]
    if report["reference"]:
        rows.append(("reference", report["reference"]))
    print(f"{'model':10} {'forget-train':>12} {'forget-test':>11} {'retain-test':>11} {'MIA AUC':>8} "
          f"{'probe':>6} {'relearn':>7}")
    for name, entry in rows:
        print(f"{name:10} {entry['forget_train_acc']:12.1%} {entry['forget_test_acc']:11.1%} "
              f"{entry['retain_test_acc']:11.1%} {entry['mia_auc']:8.3f} {entry['probe_acc']:6.1%} "
              f"{entry['relearn_steps']:7d}")
    timing = f"{report['method']} took {report['seconds']:.1f} s on {report['device']}"
    if report["reference_seconds"]:
        timing += f"; retraining took {report['reference_seconds']:.1f} s (ratio {report['time_ratio']:.3f})"
    print(timing)
    print(f"Wrote {args.out} and {args.report}")
    return 0


def download_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m forget_desktop download",
                                     description="Fetch weights or demo data (needs internet); progress on stderr.")
    parser.add_argument("what", choices=("vggface2", "lfw", "gdrive"),
                        help="vggface2: facenet weights into $TORCH_HOME/checkpoints; lfw: the 62-person LFW "
                             "demo; gdrive: a published weights folder via gdown into forget_downloads/")
    parser.add_argument("--dest", help="target folder (lfw: required; gdrive: default <app data>/forget_downloads)")
    parser.add_argument("--folder-id", help="Google Drive folder id (gdrive; or $FORGET_GDRIVE_FOLDER)")
    args = parser.parse_args(argv)
    from .console import tqdm_progress
    from .core import downloads

    with tqdm_progress(args.what) as progress:
        if args.what == "vggface2":
            paths = [downloads.download_vggface2_weights(progress)]
        elif args.what == "lfw":
            if not args.dest:
                raise ForgetError("Say where to put LFW with --dest FOLDER.")
            paths = [downloads.download_lfw_people(args.dest, progress=progress)]
        else:
            paths = downloads.download_gdrive_folder(args.folder_id, args.dest, progress)
    for path in paths:
        print(path)
    return 0


COMMANDS = {"predict": predict_command, "unlearn": unlearn_command, "download": download_command}


def run_command(name: str, argv: list[str]) -> int:
    """Run one headless command; any failure becomes one sentence on stderr."""
    return run_main(lambda: COMMANDS[name](argv))

"""Train a face-identity classifier on a folder of people (one sub-folder of photos per person).

Example: python train/train_face.py --data ../shared/data/lfw/lfw-deepfunneled \
    --backbone mobilefacenet --weights ../shared/models/mobilefacenet/mobilefacenet.pt --out lfw.ckpt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout too

from forget_desktop.cli import add_records_option, open_records  # noqa: E402
from forget_desktop.console import run_main, tqdm_progress  # noqa: E402
from forget_desktop.core.common.devices import DEVICE_CHOICES, describe_device, pick_device  # noqa: E402
from forget_desktop.core.faces.detector import DEFAULT_DETECTOR, DETECTORS  # noqa: E402
from forget_desktop.core.model.backbones import FACE_BACKBONES, KINDS  # noqa: E402


def parse_identities(text: str | None) -> int | list[str] | None:
    if not text:
        return None
    return int(text) if text.strip().isdigit() else [n for n in text.split(",") if n.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with one sub-folder of photos per person")
    parser.add_argument("--backbone", default="mobilefacenet", choices=FACE_BACKBONES)
    parser.add_argument(
        "--kind",
        choices=KINDS,
        help="embedding: frozen pretrained backbone, only the head is learned (exact forgetting; "
        "the default for pretrained backbones); finetuned: the backbone learns too",
    )
    parser.add_argument("--weights", help="pretrained backbone weights (mobilefacenet, facenet-vggface2)")
    parser.add_argument(
        "--download-weights", action="store_true", help="download the backbone's pretrained weights if they are missing"
    )
    parser.add_argument("--out", required=True, help="checkpoint to write (atomically)")
    parser.add_argument("--epochs", type=int, help="override the backbone's recipe (fine-tuned kind)")
    parser.add_argument("--identities", help="N largest identities, or a comma-separated list of names")
    parser.add_argument("--max-per-identity", type=int, help="use at most N photos per person")
    parser.add_argument("--heldout", type=float, default=0.2, help="held-out fraction per person")
    parser.add_argument("--min-images", type=int, default=5, help="skip people with fewer photos")
    parser.add_argument(
        "--detector", default=DEFAULT_DETECTOR, choices=DETECTORS, help="face detector (recorded in the model)"
    )
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reinclude",
        action="append",
        default=[],
        metavar="NAME",
        help="let a forgotten person back in before training (an audit event; repeatable). Without it, "
        "forgotten people and their photos are left out, even renamed or copied",
    )
    add_records_option(parser)
    args = parser.parse_args(argv)

    def body() -> int:
        from forget_desktop.core.app.commits import commit_trained, save_uncommitted
        from forget_desktop.core.app.train_job import TrainRequest, train_model
        from forget_desktop.core.common.jobs import indefinite
        from forget_desktop.core.model.backbones import check_kind, get_backbone
        from forget_desktop.core.model.models import MissingWeights, pretrained_weights_path

        device = pick_device(args.device)
        kind = check_kind(args.backbone, args.kind)
        weights_item = get_backbone(args.backbone).weights
        if args.download_weights and weights_item and not args.weights:
            from forget_desktop.core.common.downloads import download_weights

            with tqdm_progress(f"{weights_item} weights") as progress:
                download_weights(weights_item, progress)
        try:
            pretrained_weights_path(args.backbone, args.weights)  # a missing file: one sentence, before any work
        except MissingWeights as missing:
            raise MissingWeights(missing.item, missing.path, "add --download-weights to fetch them") from None
        records = open_records(args)
        for name in args.reinclude:
            records.requests.reinclude(name)
            print(f"{name.replace('_', ' ')} was let back in (an audit event in {records.path}).", file=sys.stderr)
        request = TrainRequest(
            Path(args.data),
            args.backbone,
            None,
            args.weights,
            args.epochs,
            parse_identities(args.identities),
            args.max_per_identity,
            args.seed,
            args.heldout,
            args.min_images,
            kind,
            records.requests.exclusion(),
            args.detector,
        )
        print(
            f"Training {indefinite(kind)} {args.backbone} model on {describe_device(device)}, "
            f"faces found by {args.detector}",
            file=sys.stderr,
        )
        with tqdm_progress("train") as progress:
            result = train_model(request, device, progress)
        digest = save_uncommitted(result.checkpoint, Path(args.out), records, exclusive=False)
        split = result.gallery.split
        commit_trained(records, result.checkpoint, digest, split.left_out, Path(args.data), in_use=False)
        if split.left_out:
            print(split.left_out.sentence() + " (--reinclude NAME lets one back in.)", file=sys.stderr)
        for name, reason in split.skipped.items():
            print(f"skipped identity {name}: {reason}", file=sys.stderr)
        for problem in result.problems:
            print(f"left out {problem.path}: {problem.reason}", file=sys.stderr)
        print(
            f"{len(result.gallery.classes)} people, {len(result.gallery.train)} training and "
            f"{len(result.gallery.heldout)} held-out faces; {len(result.problems)} photos without a "
            f"usable face; training took {result.seconds:.1f} s; Unknown below similarity "
            f"{result.checkpoint.threshold:.3f}"
        )
        print(f"Held-out accuracy: {result.heldout_acc:.2%} (train {result.train_acc:.2%}); saved {args.out}")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())

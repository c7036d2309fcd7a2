"""Train a face-identity classifier on a folder of people (one sub-folder of photos per person).

Example: python train/train_face.py --data ../shared/data/lfw/lfw-deepfunneled \
    --backbone mobilefacenet --weights ../shared/models/mobilefacenet/mobilefacenet.pt --out lfw.ckpt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout too

from forget_desktop.console import run_main, tqdm_progress  # noqa: E402
from forget_desktop.core.devices import DEVICE_CHOICES, describe_device, pick_device  # noqa: E402
from forget_desktop.core.models import BACKBONES  # noqa: E402


def parse_identities(text: str | None) -> int | list[str] | None:
    if not text:
        return None
    return int(text) if text.strip().isdigit() else [n for n in text.split(",") if n.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with one sub-folder of photos per person")
    parser.add_argument("--backbone", default="mobilefacenet", choices=[b for b in BACKBONES if b != "mnist-cnn"])
    parser.add_argument("--weights", help="pretrained backbone weights (mobilefacenet, facenet-vggface2)")
    parser.add_argument("--download-weights", action="store_true",
                        help="download the VGGFace2 weights if missing (facenet-vggface2)")
    parser.add_argument("--out", required=True, help="checkpoint to write (atomically)")
    parser.add_argument("--epochs", type=int, help="override the backbone's recipe")
    parser.add_argument("--identities", help="N largest identities, or a comma-separated list of names")
    parser.add_argument("--max-per-identity", type=int, help="use at most N photos per person")
    parser.add_argument("--heldout", type=float, default=0.2, help="held-out fraction per person")
    parser.add_argument("--min-images", type=int, default=5, help="skip people with fewer photos")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def body() -> int:
        from forget_desktop.core.models import pretrained_weights_path
        from forget_desktop.core.train_job import TrainRequest, train_model

        device = pick_device(args.device)
        if args.download_weights and args.backbone == "facenet-vggface2" and not args.weights:
            from forget_desktop.core.downloads import download_vggface2_weights
            with tqdm_progress("VGGFace2 weights") as progress:
                download_vggface2_weights(progress)
        pretrained_weights_path(args.backbone, args.weights)  # a missing file: one sentence, before any work
        request = TrainRequest(Path(args.data), args.backbone, Path(args.out), args.weights, args.epochs,
                               parse_identities(args.identities), args.max_per_identity, args.seed,
                               args.heldout, args.min_images)
        print(f"Training {args.backbone} on {describe_device(device)}", file=sys.stderr)
        with tqdm_progress("train") as progress:
            result = train_model(request, device, progress)
        split = result.gallery.split
        for name, reason in split.skipped.items():
            print(f"skipped identity {name}: {reason}", file=sys.stderr)
        for problem in result.problems:
            print(f"left out {problem.path}: {problem.reason}", file=sys.stderr)
        print(f"{len(result.gallery.classes)} people, {len(result.gallery.train)} training and "
              f"{len(result.gallery.heldout)} held-out faces; {len(result.problems)} photos without a "
              f"usable face; training took {result.seconds:.0f} s")
        print(f"Held-out accuracy: {result.heldout_acc:.2%} (train {result.train_acc:.2%}); "
              f"saved {args.out}")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())

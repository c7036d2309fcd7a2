"""Train the small MNIST CNN (the unlearning test bed without faces).

Example: python train/train_mnist.py --data ../shared/data/mnist --out mnist.ckpt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout too

from forget_desktop.console import run_main, tqdm_progress  # noqa: E402
from forget_desktop.core.common.devices import DEVICE_CHOICES, describe_device, pick_device  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding MNIST/raw/ (torchvision's layout)")
    parser.add_argument("--out", required=True, help="checkpoint to write (atomically)")
    parser.add_argument("--epochs", type=int, help="override the recipe (default 4)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def body() -> int:
        from forget_desktop.core.data.mnist import CLASSES, load_mnist
        from forget_desktop.core.model.backbones import get_backbone
        from forget_desktop.core.model.checkpoint import make_meta, save_checkpoint
        from forget_desktop.core.model.models import build_classifier
        from forget_desktop.core.model.openset import fit_open_set
        from forget_desktop.core.model.training import accuracy, fit

        device = pick_device(args.device)
        train, test = load_mnist(args.data, "train"), load_mnist(args.data, "test")
        model, start = build_classifier("mnist-cnn", len(CLASSES), seed=args.seed)
        recipe = get_backbone("mnist-cnn").recipe.with_epochs(args.epochs)
        print(f"Training on {len(train)} digits, {describe_device(device)}", file=sys.stderr)
        started = time.perf_counter()
        with tqdm_progress("train") as progress:
            fit(model, train, recipe, device, progress.sub(0, 0.9), seed=args.seed)
            fit_open_set(model, train, test, device, progress.sub(0.9, 1.0))
        seconds = time.perf_counter() - started
        test_acc = accuracy(model, test, device)
        split = {
            "dataset": "mnist",
            "root": str(Path(args.data).resolve()),
            "seed": args.seed,
            "heldout": "official test set",
        }
        meta = make_meta(
            model,
            CLASSES,
            split=split,
            start=start,
            recipe=recipe.to_dict(),
            metrics={"heldout_acc": test_acc, "train_seconds": round(seconds, 1), "device": describe_device(device)},
        )
        save_checkpoint(model, meta, args.out)
        print(f"Test accuracy: {test_acc:.2%} after {recipe.epochs} epochs in {seconds:.0f} s; saved {args.out}")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())

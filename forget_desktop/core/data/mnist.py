"""MNIST from torchvision's folder layout (``DIR/MNIST/raw/*-ubyte[.gz]``), read without writing."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from ..common.errors import ForgetError
from ..faces.crops import MNIST_28, CropSet

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = [str(d) for d in range(10)]


def _read_idx(folder: Path, name: str, magic: int) -> np.ndarray:
    for candidate, opener in ((folder / name, open), (folder / f"{name}.gz", gzip.open)):
        if candidate.is_file():
            try:
                with opener(candidate, "rb") as handle:
                    data = handle.read()
            except (OSError, EOFError) as error:
                raise ForgetError(f"'{candidate.name}' is damaged ({error}).") from None
            found = int.from_bytes(data[:4], "big")
            if found != magic:
                raise ForgetError(f"'{candidate.name}' is not an MNIST idx file.")
            dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(magic % 256)]
            return np.frombuffer(data, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)
    raise ForgetError(f"MNIST file '{name}' was not found in {folder} (expected DIR/MNIST/raw/).")


def load_mnist(root: str | os.PathLike, split: str) -> CropSet:
    """The ``train`` or ``test`` split as a CropSet of 1×28×28 uint8 digits."""
    root = Path(root).expanduser()
    folder = next((f for f in (root / "MNIST" / "raw", root / "raw", root) if f.is_dir()), None)
    if folder is None:
        raise ForgetError(f"The MNIST folder '{root}' does not exist.")
    images_name, labels_name = FILES[split]
    images = _read_idx(folder, images_name, 2051)
    labels = _read_idx(folder, labels_name, 2049)
    if len(images) != len(labels):
        raise ForgetError(f"The MNIST {split} images and labels do not match in number.")
    sources = [f"mnist:{split}:{i}" for i in range(len(labels))]
    return CropSet(
        torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)), MNIST_28, sources
    )

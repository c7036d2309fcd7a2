"""Checkpoints: a model's weights plus everything needed to use, audit and retrain it.

Files are written atomically and read with ``torch.load(weights_only=True)``, which refuses
pickled code: a model file can never run anything on load.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ... import __version__
from ..common.atomic import sha256_file, write_bytes
from ..common.errors import ForgetError
from ..faces.crops import CropSpec
from .backbones import BACKBONES, KINDS
from .models import LEGACY_EMBED_RECIPE, FaceClassifier
from .openset import deciding_head

FORMAT = "forget-desktop-checkpoint/2"
CONFIDENCE_THRESHOLD = 0.8  # softmax confidence naming a face when a model has no calibrated similarity
ZIP_MAGIC = b"PK\x03\x04"  # every checkpoint torch.save writes is a zip archive


@dataclass
class Checkpoint:
    """A loaded model with its metadata (``meta`` is plain JSON-like data)."""

    model: FaceClassifier
    meta: dict
    path: Path | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def crop(self) -> CropSpec:
        return CropSpec.from_dict(self.meta["crop"])

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def calibrated(self) -> bool:
        """True when Unknown is decided by similarity to the people's centres (a calibrated threshold)."""
        return deciding_head(self.model).calibrated

    @property
    def threshold(self) -> float:
        """The similarity a face needs to be named (or, uncalibrated, the softmax confidence)."""
        return float(deciding_head(self.model).threshold) if self.calibrated else CONFIDENCE_THRESHOLD


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


def make_meta(
    model: FaceClassifier,
    classes: list[str],
    *,
    split: dict,
    start: dict,
    recipe: dict,
    metrics: dict,
    parent: dict | None = None,
    extra: dict | None = None,
) -> dict:
    """Metadata for a new checkpoint of ``model``."""
    return {
        "format": FORMAT,
        "app_version": __version__,
        "created": now_iso(),
        "classes": list(classes),
        "backbone": model.backbone_name,
        "kind": model.kind,
        "crop": model.crop.to_dict(),
        "embed_recipe": model.embed_recipe,
        "anchored": model.anchor is not None,
        "split": split,
        "start": start,
        "recipe": recipe,
        "metrics": metrics,
        "parent": parent,
        **(extra or {}),
    }


def save_checkpoint(model: FaceClassifier, meta: dict, path: str | os.PathLike, exclusive: bool = False) -> Path:
    """Write ``model`` and ``meta`` to ``path`` atomically (``exclusive``: never over an existing file)."""
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "meta": meta, "state_dict": state}, buffer)
    write_bytes(path, buffer.getvalue(), exclusive)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> Checkpoint:
    """Load a checkpoint safely, or raise ``ForgetError`` saying what is wrong with the file."""
    path = Path(path).expanduser()
    name = path.name
    if not path.exists():
        raise ForgetError(f"The model file '{path}' does not exist.")
    if path.is_dir():
        raise ForgetError(f"'{name}' is a folder, not a model file.")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ForgetError(f"'{name}' cannot be read: {error.strerror or error}.") from None
    if not path.is_file() or magic != ZIP_MAGIC:
        raise ForgetError(f"'{name}' is not a model file this app made.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ForgetError(
            f"'{name}' was refused: it contains code or objects that a model file must not have, so it was not loaded."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, TypeError):
        raise ForgetError(f"'{name}' is damaged or truncated and cannot be loaded.") from None
    if not isinstance(payload, dict) or not str(payload.get("format", "")).startswith("forget-desktop-checkpoint/"):
        raise ForgetError(f"'{name}' is not a model file this app made.")
    if payload["format"] != FORMAT:
        raise ForgetError(f"'{name}' was made by an older version of this app; train the model again.")
    meta = payload["meta"]
    backbone = meta.get("backbone")
    if backbone not in BACKBONES or meta.get("kind") not in KINDS:
        raise ForgetError(f"'{name}' uses the backbone '{backbone}', which this version does not know.")
    model = FaceClassifier(backbone, len(meta["classes"]), meta["kind"], anchored=bool(meta.get("anchored")))
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError):
        raise ForgetError(
            f"'{name}' is inconsistent: its weights do not fit a {backbone} model "
            f"for {len(meta['classes'])} identities."
        ) from None
    model.embed_recipe = meta.get("embed_recipe", LEGACY_EMBED_RECIPE)
    if model.anchor is not None:
        model.anchor.embed_recipe = model.embed_recipe
    model.to(device).eval()
    return Checkpoint(model, meta, path)


def parent_record(checkpoint: Checkpoint) -> dict:
    """How a derived checkpoint names the one it came from."""
    path = checkpoint.path
    return {
        "path": str(path.resolve()) if path else None,
        "sha256": sha256_file(path) if path else None,
        "created": checkpoint.meta.get("created"),
    }

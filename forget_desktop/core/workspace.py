"""One window session's models and data, used from a single thread (the window's ML thread).

The window calls these methods only through its worker; the same code runs headless in tests.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .atomic import clean_stale_temporaries, sha256_file, write_json
from .audit import AuditLog
from .checkpoint import Checkpoint, load_checkpoint, now_iso, parent_record, save_checkpoint
from .crops import ARCFACE_112, CropCache
from .erasure import delete_version, erase_derived, erase_photos, person_photos, versions_that_know
from .errors import ForgetError
from .gallery import Gallery, gallery_for_checkpoint, load_gallery
from .jobs import Progress
from .paths import data_dir
from .frames import Frame
from .recognise import FaceResult, Recogniser, VideoRecogniser
from .train_job import TrainRequest, train_model
from .heads import fit_open_set
from .train_job import fit_learned
from .training import Recipe, accuracy, features_and_logits, fit, outputs
from .unlearn_job import UnlearnRequest, unlearn_job
from .unlearning import default_method


@dataclass(frozen=True)
class ModelSummary:
    """What the window shows about the model in use (a snapshot: safe to read on any thread)."""

    path: Path | None
    people: int
    kind: str
    calibrated: bool
    threshold: float
    forgotten: tuple[str, ...]


@dataclass
class IdentityRow:
    """What the identities panel shows for one person."""

    name: str
    images: int
    train: int
    heldout: int
    accuracy: float | None  # held-out accuracy of the current model
    thumbnail: np.ndarray | None  # aligned face crop, H×W×3 uint8
    forgotten: bool = False


@dataclass
class Version:
    """One model in the versions list (the original or an unlearned descendant)."""

    path: Path
    title: str
    detail: str
    method: str | None
    forget: list[str]
    metrics: dict
    forgotten: list[str] = field(default_factory=list)  # everyone this version has forgotten


class Workspace:
    """Current checkpoint, gallery and recogniser, plus the versions derived from the checkpoint."""

    def __init__(self, device: torch.device, cache: CropCache | None = None,
                 models_dir: Path | None = None, audit: AuditLog | None = None) -> None:
        self.device = device
        self.cache = cache or CropCache()
        self.models_dir = Path(models_dir or data_dir() / "models")
        self.audit = audit or AuditLog(self.models_dir.parent / "audit.jsonl")
        clean_stale_temporaries(self.models_dir)  # left by a process that was killed mid-save
        self.checkpoint: Checkpoint | None = None
        self.gallery: Gallery | None = None
        self.gallery_root: Path | None = None
        self.recogniser: Recogniser | None = None
        self.stream: VideoRecogniser | None = None
        self.accuracy: dict[str, float] = {}
        self.last_report: dict | None = None

    # --- models ------------------------------------------------------------------------------
    def open_model(self, path: str | os.PathLike, progress: Progress | None = None) -> Checkpoint:
        """Load a checkpoint and make it the one that recognises faces."""
        checkpoint = load_checkpoint(path, self.device)
        stale = self.gallery is not None and (self.gallery.classes != checkpoint.classes or set(
            self.gallery.absent) != set(checkpoint.meta.get("forgotten") or []))
        self.checkpoint = checkpoint
        detector = self.recogniser.detector if self.recogniser is not None else None
        self.recogniser = Recogniser(checkpoint, self.device, detector=detector, threshold=0.0)
        self.accuracy = {}
        if stale and self.gallery_root is not None:  # split for another model: re-read it for this one
            self.gallery = None
            self.open_gallery(self.gallery_root, progress)
        return checkpoint

    def summary(self) -> ModelSummary | None:
        """A snapshot of the model in use."""
        checkpoint = self.checkpoint
        if checkpoint is None:
            return None
        return ModelSummary(checkpoint.path, len(checkpoint.classes), checkpoint.kind, checkpoint.calibrated,
                            checkpoint.threshold, tuple(checkpoint.meta.get("forgotten") or ()))

    def recognise(self, frame: Frame) -> list[FaceResult]:
        """Faces in one frame; stream frames reuse the previous frame's faces via tracking."""
        if self.recogniser is None:
            raise ForgetError("Open or train a model first.")
        if not frame.stream:
            return self.recogniser.recognise(frame.rgb)
        if self.stream is None or self.stream.recogniser is not self.recogniser:
            self.stream = VideoRecogniser(self.recogniser)
        if frame.index == 0:  # a new stream: nothing to follow from the last one
            self.stream.reset()
        return self.stream.recognise(frame.rgb)

    # --- data --------------------------------------------------------------------------------
    def open_gallery(self, folder: str | os.PathLike, progress: Progress | None = None) -> Gallery:
        """Read a folder of people (faces found once, then cached), split as the model was trained."""
        progress = progress or Progress()
        folder = Path(folder)
        if self.checkpoint is not None and self.checkpoint.crop.align != "none":
            try:
                gallery = gallery_for_checkpoint(self.checkpoint.meta, folder, self.checkpoint.crop, self.cache,
                                                 progress)
            except ForgetError:
                gallery = load_gallery(folder, self.checkpoint.crop, cache=self.cache, progress=progress)
        else:
            gallery = load_gallery(folder, ARCFACE_112, cache=self.cache, progress=progress)
        self.gallery, self.gallery_root = gallery, folder
        return gallery

    def model_matches_gallery(self) -> bool:
        return (self.checkpoint is not None and self.gallery is not None
                and self.gallery.classes == self.checkpoint.classes)

    def score(self, progress: Progress | None = None) -> dict[str, float]:
        """Held-out accuracy of the current model per identity (needs a matching gallery)."""
        if not self.model_matches_gallery():
            return {}
        learned, _, heldout = self.gallery.learned_view(self.checkpoint.model, self.device, self.cache, progress)
        predicted = outputs(learned, heldout.images, heldout.spec, self.device, progress=progress).argmax(1)
        self.accuracy = {}
        for index, name in enumerate(self.gallery.classes):
            mask = heldout.labels == index
            self.accuracy[name] = float((predicted[mask] == index).float().mean()) if mask.any() else math.nan
        return self.accuracy

    def identity_rows(self) -> list[IdentityRow]:
        if self.gallery is None:
            return []
        counts = self.gallery.split.counts()
        forgotten = set((self.checkpoint.meta.get("forgotten") or []) if self.checkpoint else [])
        thumbs: dict[int, np.ndarray] = {}
        for image, label in zip(self.gallery.train.images, self.gallery.train.labels.tolist()):
            if label not in thumbs and image.shape[0] == 3:
                thumbs[label] = image.permute(1, 2, 0).numpy()
        rows = []
        for index, name in enumerate(self.gallery.classes):
            train, heldout = counts.get(name, (0, 0))
            photos = train + heldout if name in counts else len(person_photos(self.gallery_root, name))
            rows.append(IdentityRow(name, photos, train, heldout, self.accuracy.get(name), thumbs.get(index),
                                    name in forgotten))
        return rows

    def train(self, backbone: str, weights: str | None, epochs: int | None, kind: str | None = None,
              progress: Progress | None = None) -> Path:
        """Train a new model on the open folder of people; it becomes the current model."""
        if self.gallery_root is None:
            raise ForgetError("Open a folder of people first.")
        out = self.models_dir / f"{_slug(self.gallery_root.name)}-{backbone}.ckpt"
        if out.exists():
            out = out.with_name(f"{out.stem}-{len(list(self.models_dir.glob(out.stem + '*.ckpt'))) + 1}.ckpt")
        result = train_model(TrainRequest(self.gallery_root, backbone, out, weights, epochs, kind=kind), self.device,
                             progress, self.cache)
        self.open_model(out)
        self.gallery = result.gallery
        self.score()
        return out

    def enrol(self, name: str, photos: list[Path] | None = None, frames: list[np.ndarray] | None = None,
              epochs: int = 1, progress: Progress | None = None) -> Path:
        """Add a person (photos copied into the gallery), then fine-tune the current model to know them."""
        progress = progress or Progress()
        if self.checkpoint is None or self.gallery_root is None:
            raise ForgetError("Open a model and its folder of people first.")
        name = name.strip().replace(" ", "_")
        if not name or any(c in name for c in '/\\:*?"<>|') or name.startswith("."):
            raise ForgetError("Give the person a name without slashes or other special characters.")
        if (self.gallery_root / name).exists() or name in self.checkpoint.classes:
            raise ForgetError(f"'{name}' is already in the gallery; choose another name.")
        count = len(photos or []) + len(frames or [])
        if count < 5:
            raise ForgetError(f"Enrolling needs at least 5 photos; {count} were given.")
        add_person_folder(self.gallery_root / name, photos or [], frames or [])
        progress(0.05, f"Added {count} photos of {name}")
        old = self.checkpoint
        classes = sorted(old.classes + [name])
        meta = {**old.meta, "classes": classes}
        gallery = gallery_for_checkpoint(meta, self.gallery_root, old.crop, self.cache, progress.sub(0.05, 0.3))
        newcomer = gallery.train.of_classes([classes.index(name)])
        if len(newcomer) == 0:
            shutil.rmtree(self.gallery_root / name, ignore_errors=True)
            raise ForgetError(f"No face was found in the photos of {name}; nothing was added.")
        model = extend_head(old.model, old.classes, classes, newcomer, self.device)
        learned, train, heldout = gallery.learned_view(model, self.device, self.cache, progress.sub(0.3, 0.4))
        recipe = Recipe.from_dict(old.meta["recipe"])
        if old.kind == "embedding":  # the head is trained again from every embedding: exact, and instant
            fit_learned(learned, train, recipe, self.device)
        else:
            fit(model, train, recipe.with_epochs(epochs), self.device, progress.sub(0.4, 0.9), seed=0)
        fit_open_set(learned, train, heldout, self.device, progress.sub(0.9, 0.95))
        metrics = {**old.meta.get("metrics", {}), "heldout_acc": accuracy(learned, heldout, self.device),
                   "threshold": float(model.head.threshold)}
        folder = self.versions_dir(old)
        stem = f"v{len(list(folder.glob('*.ckpt'))) + 1:02d}-enrol-{_slug(name)}"
        parent = parent_record(old)
        new_meta = {**meta, "created": now_iso(), "parent": parent, "root": _root_of(old),
                    "split": gallery.split.split_info(), "metrics": metrics, "enrolled": name, "unlearning": None}
        path = save_checkpoint(model.cpu(), new_meta, folder / f"{stem}.ckpt")
        write_json(folder / f"{stem}.json", {
            "title": f"enrolled {name}", "detail": f"fine-tuned {epochs} epoch(s); held-out {metrics['heldout_acc']:.1%}",
            "method": "enrol", "options": {"epochs": epochs}, "forget": [],
            "forgotten": new_meta.get("forgotten", []), "created": new_meta["created"],
            "metrics": {"heldout_acc": metrics["heldout_acc"]}})
        self.open_model(path)
        self.gallery = gallery
        self.score()
        return path

    # --- forgetting -----------------------------------------------------------------------------
    def forget(self, names: list[str], method: str | None, options: dict, reference: bool,
               progress: Progress | None = None, seed: int = 0) -> dict:
        """Unlearn ``names`` from the current model into a new version, which becomes current."""
        if self.checkpoint is None or self.checkpoint.path is None:
            raise ForgetError("Open or train a model first.")
        method = method or default_method(self.checkpoint.kind)
        if not self.model_matches_gallery():
            raise ForgetError("Open the folder of people this model was trained on first.")
        folder = self.versions_dir(self.checkpoint)
        stem = f"v{len(list(folder.glob('*.ckpt'))) + 1:02d}-{method}-{_slug('-'.join(names))}"[:80]
        request = UnlearnRequest(self.checkpoint.path, self.gallery_root, names, method, options,
                                 folder / f"{stem}.ckpt", folder / f"{stem}.report.json", reference, seed)
        _, train, heldout = self.gallery.learned_view(self.checkpoint.model, self.device, self.cache, progress)
        outcome = unlearn_job(request, self.device, progress, self.cache, original=self.checkpoint,
                              sets=(train, heldout))
        forgotten = outcome.report["forget"]
        try:
            write_json(folder / f"{stem}.json", version_summary(outcome.checkpoint.meta, outcome.report))
        except BaseException:
            delete_version(request.out)  # a version the list cannot show is not kept half-made
            raise
        self.gallery = self.gallery.without(forgotten)  # drops their crops (and thumbnails) from memory
        self.open_model(request.out)
        erased = erase_derived(forgotten, self.gallery_root, self.cache)  # and the cached crops on disk
        self.accuracy = {name: entry.get("test_acc") for name, entry in
                         outcome.report["unlearned"]["per_identity"].items()}
        before = outcome.checkpoint.meta["parent"]["sha256"]
        self.audit.forget_entry(outcome.report, before, sha256_file(request.out), erased.to_dict())
        outcome.report["erased"] = erased.to_dict()
        self.last_report = outcome.report
        return outcome.report

    def erase_photos(self, names: list[str]) -> dict:
        """Delete these (already forgotten) people's source photos from the gallery; audited."""
        if self.gallery_root is None:
            raise ForgetError("Open the folder of people first.")
        forgotten = set((self.checkpoint.meta.get("forgotten") or []) if self.checkpoint else [])
        if not set(names) <= forgotten:
            raise ForgetError("Only the photos of people the current model has forgotten can be erased here.")
        derived = erase_derived(names, self.gallery_root, self.cache)  # while the photos can still be hashed
        erased = erase_photos(names, self.gallery_root)
        summary = {**erased.to_dict(), "cached_crops": derived.cached_crops}
        self.audit.append({"event": "erase-photos", "identities": [self.audit.identity(n) for n in names],
                           "identities_hashed": self.audit.hash_names, "erased": summary})
        return summary

    def versions_knowing(self, names: list[str]) -> list[Version]:
        """Model versions that still recognise any of these people (candidates for deletion)."""
        return versions_that_know(names, self.versions())

    def delete_version(self, version: Version) -> None:
        if self.checkpoint is not None and Path(version.path) == self.checkpoint.path:
            raise ForgetError("The model in use cannot be deleted; switch to another version first.")
        delete_version(version.path)
        self.audit.append({"event": "delete-version", "model": Path(version.path).name,
                           "forgotten_by_it": version.forgotten})

    def versions_dir(self, checkpoint: Checkpoint) -> Path:
        """Folder holding the unlearned versions descending from ``checkpoint``'s root model."""
        root = _root_of(checkpoint)
        return self.models_dir / f"{_slug(root['name'])}-{root['sha256'][:10]}"

    def versions(self) -> list[Version]:
        """The root model and every unlearned version derived from it, oldest first."""
        if self.checkpoint is None:
            return []
        root = _root_of(self.checkpoint)
        listed = [Version(Path(root["path"]), "Original", Path(root["path"]).name, None, [],
                          self.checkpoint.meta["metrics"] if root["path"] == str(self.checkpoint.path) else {})]
        folder = self.versions_dir(self.checkpoint)
        for summary_file in sorted(folder.glob("*.json")):
            if summary_file.name.endswith(".report.json"):
                continue
            try:
                summary = json.loads(summary_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            ckpt = summary_file.with_suffix(".ckpt")
            if ckpt.exists():
                listed.append(Version(ckpt, summary["title"], summary["detail"], summary["method"],
                                      summary["forget"], summary.get("metrics", {}), summary.get("forgotten", [])))
        return listed


def add_person_folder(folder: Path, photos: list[Path], frames: list[np.ndarray]) -> None:
    """Create ``folder`` with the photos (copied) and frames (saved as PNG), all or nothing."""
    import tempfile

    import cv2

    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for index, photo in enumerate(photos):
            shutil.copy2(photo, work / f"{folder.name}_{index + 1:04d}{Path(photo).suffix.lower()}")
        for index, rgb in enumerate(frames, start=len(photos)):
            ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            if ok:
                (work / f"{folder.name}_{index + 1:04d}.png").write_bytes(encoded.tobytes())
        os.replace(work, folder)
    except OSError as error:
        shutil.rmtree(work, ignore_errors=True)
        raise ForgetError(f"The photos could not be added: {error.strerror or error}.") from None


def extend_head(model, old_classes: list[str], new_classes: list[str], newcomer=None,
                device: torch.device | str = "cpu"):
    """A copy of ``model`` whose head names ``new_classes``: known people keep their weights, and a
    new person's row of a linear head starts from the mean of their embeddings ("weight imprinting")."""
    import copy

    from .models import FaceClassifier

    extended = FaceClassifier(model.backbone_name, len(new_classes), model.kind)
    state = {k: v for k, v in copy.deepcopy(model.state_dict()).items() if not k.startswith("head.")}
    extended.load_state_dict(state, strict=False)
    if model.kind == "embedding":
        return extended  # its head is fitted again from every embedding
    with torch.no_grad():
        for old_index, name in enumerate(old_classes):
            extended.head.weight[new_classes.index(name)] = model.head.weight[old_index]
            extended.head.bias[new_classes.index(name)] = model.head.bias[old_index]
        if newcomer is not None and len(newcomer):
            features = features_and_logits(model, newcomer.images, newcomer.spec, torch.device(device))[0]
            mean = features.mean(0)
            scale = model.head.weight.norm(dim=1).mean() / mean.norm().clamp_min(1e-6)
            label = int(newcomer.labels[0])
            extended.head.weight[label] = mean * scale
            extended.head.bias[label] = model.head.bias.mean()
    return extended


def version_summary(meta: dict, report: dict) -> dict:
    """The small JSON kept beside each unlearned checkpoint for the versions list."""
    unlearning = meta.get("unlearning") or {}
    metrics = report["unlearned"]
    return {"title": f"{unlearning.get('method')} — forgot {', '.join(unlearning.get('forget', []))}",
            "detail": (f"{report['seconds']:.1f} s on {report['device']}; retain-test "
                       f"{metrics['retain_test_acc']:.1%}, forget-test {metrics['forget_test_acc']:.1%}"),
            "method": unlearning.get("method"), "options": unlearning.get("options"),
            "forget": unlearning.get("forget", []), "forgotten": meta.get("forgotten", []),
            "created": meta.get("created"), "root": meta.get("root"),
            "metrics": {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}}


def _root_of(checkpoint: Checkpoint) -> dict:
    """The original model a line of versions descends from (recorded in each descendant)."""
    root = checkpoint.meta.get("root")
    if root:
        return root
    path = checkpoint.path
    return {"path": str(path.resolve()) if path else "", "name": path.stem if path else "model",
            "sha256": sha256_file(path) if path else "0" * 64}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"

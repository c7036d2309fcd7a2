"""The app's models and data, changed only through the operations here (called from the window's one
ML thread, and from the tests alike).

Every state change — train, forget, enrol, erase photos, delete a model, switch version — follows one
commit order:

1. the work that can fail runs first (training, unlearning, cropping, saving the new model under a new
   name), while the session and the records are untouched;
2. then the records are written: the version ledger, the file naming the model in use, and last the
   audit line, which is the commit point — a failure before it undoes what step 2 wrote and deletes
   what step 1 saved;
3. only then does the session switch to the new state.

So a failure or a cancel at any step leaves the previous state whole, and the model in use survives a
restart (``in-use.json``) whatever happens after the commit.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ..common.atomic import AlreadyThere, clean_stale_temporaries, sha256_file, write_json
from ..common.errors import ForgetError
from ..common.jobs import Progress
from ..common.paths import data_dir
from ..data.gallery import Gallery
from ..faces.crops import CropCache
from ..faces.detector import DEFAULT_DETECTOR
from ..faces.frames import Frame
from ..model.checkpoint import Checkpoint, load_checkpoint, now_iso, parent_record, save_checkpoint
from ..recognition.recognise import FaceResult
from ..records.audit import AuditLog
from ..records.erasure import erase_derived, erase_photos
from ..records.models_seen import ModelRegistry, SeenModel
from ..records.versions import Version, VersionStore, root_of, slug
from ..unlearning import default_method
from ..unlearning.job import UnlearnRequest, unlearn_job
from .enrolment import join_gallery, learn_person
from .session import Session, View
from .train_job import TrainRequest, train_model


class KnowsForgotten(ForgetError):
    """A model that still knows people the audit log says were forgotten."""

    def __init__(self, path: Path, names: list[str], newest: Version | None) -> None:
        people = ", ".join(n.replace("_", " ") for n in names)
        offer = (
            f" The newest version without them is {newest.path.name} ({newest.title})."
            if newest
            else " No version without them exists: forget them again after opening it."
        )
        super().__init__(f"{path.name} still recognises {people}, whom the audit log says were forgotten.{offer}")
        self.path, self.names, self.newest = path, names, newest


class Workspace:
    """The session (model in use, folder of people), its versions, the models seen and the audit log."""

    def __init__(
        self,
        device: torch.device,
        cache: CropCache | None = None,
        models_dir: Path | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.device = device
        self.cache = cache or CropCache()
        self.models_dir = Path(models_dir or data_dir() / "models")
        home = self.models_dir.parent
        self.audit = audit or AuditLog(home / "audit.jsonl")
        self.store = VersionStore(self.models_dir)
        self.registry = ModelRegistry(home / "models-seen.json", self.audit.hashed)
        self.in_use_file = home / "in-use.json"
        self.session = Session(device, self.cache)
        clean_stale_temporaries(self.models_dir)  # left by a process that was killed mid-save

    # --- what is open (read on the ML thread; the window gets ``view()`` snapshots) -------------
    @property
    def checkpoint(self) -> Checkpoint | None:
        return self.session.checkpoint

    @property
    def gallery(self) -> Gallery | None:
        return self.session.gallery

    @property
    def gallery_root(self) -> Path | None:
        return self.session.gallery_root

    def view(self) -> View:
        return self.session.view(tuple(self.versions()))

    def versions(self) -> list[Version]:
        """The original of the model in use and every version of it still on disk, oldest first."""
        checkpoint = self.checkpoint
        if checkpoint is None or checkpoint.path is None:
            return []
        root = root_of(checkpoint)
        is_original = not checkpoint.meta.get("root")
        return self.store.versions(root, checkpoint.meta.get("metrics") if is_original else None)

    def in_use(self) -> dict:
        """What the last session used: ``{"model": path, "gallery": path}`` (either may be missing)."""
        try:
            return json.loads(self.in_use_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def recognise(self, frame: Frame) -> list[FaceResult] | None:
        return self.session.recognise(frame)

    def score(self, progress: Progress | None = None) -> dict[str, float]:
        return self.session.score(progress)

    # --- opening -------------------------------------------------------------------------------
    def open_model(
        self, path: str | os.PathLike, progress: Progress | None = None, accept_forgotten: bool = False
    ) -> Checkpoint:
        """Make a model the one in use. A model that still knows someone the audit log says was
        forgotten raises ``KnowsForgotten`` unless ``accept_forgotten``."""
        checkpoint = load_checkpoint(path, self.device)
        still = self.still_known_forgotten(checkpoint)
        if still and not accept_forgotten:
            raise KnowsForgotten(Path(path), still, self.newest_without(checkpoint, still))
        self._best_effort(lambda: self.registry.record(checkpoint, "opened"))
        self._switch(checkpoint, None, progress)
        return checkpoint

    def open_gallery(self, folder: str | os.PathLike, progress: Progress | None = None) -> Gallery:
        gallery = self.session.open_gallery(folder, progress)
        self._save_in_use()
        return gallery

    def still_known_forgotten(self, checkpoint: Checkpoint) -> list[str]:
        """People this model recognises whom a forget line of the audit log names."""
        forgotten = set(self.audit.forgotten())
        if not forgotten:
            return []
        gone = set(checkpoint.meta.get("forgotten") or [])
        return [
            n for n in checkpoint.classes if n not in gone and (n in forgotten or self.audit.hashed(n) in forgotten)
        ]

    def newest_without(self, checkpoint: Checkpoint, names: list[str]) -> Version | None:
        """The newest version of this model's line that has forgotten all of ``names``."""
        wanted = [{n, self.audit.hashed(n)} for n in names]
        candidates = [
            v for v in self.store.versions(root_of(checkpoint)) if all(ids & set(v.forgotten) for ids in wanted)
        ]
        return max(candidates, key=lambda v: (v.created, v.id), default=None)

    # --- state changes ---------------------------------------------------------------------------
    def train(
        self,
        backbone: str,
        weights: str | None,
        epochs: int | None,
        kind: str | None = None,
        progress: Progress | None = None,
        detector: str = DEFAULT_DETECTOR,
    ) -> Path:
        """Train a new model on the open folder of people; it becomes the model in use."""
        if self.gallery_root is None:
            raise ForgetError("Open a folder of people first.")
        result = train_model(
            TrainRequest(self.gallery_root, backbone, None, weights, epochs, kind=kind, detector=detector),
            self.device,
            progress,
            self.cache,
        )
        stem = f"{slug(self.gallery_root.name)}-{backbone}-{result.checkpoint.kind}"
        checkpoint = result.checkpoint
        number = 1
        while checkpoint.path is None:  # a new file: never over a model trained before
            path = self.models_dir / f"{stem}{'' if number == 1 else f'-{number}'}.ckpt"
            try:
                checkpoint.path = save_checkpoint(checkpoint.model, checkpoint.meta, path, exclusive=True)
            except AlreadyThere:
                number += 1
        digest = sha256_file(checkpoint.path)
        try:
            self._commit(
                checkpoint,
                result.gallery,
                how="trained",
                audit=lambda: self.audit.append(
                    {
                        "event": "train",
                        "people": len(checkpoint.classes),
                        "kind": checkpoint.kind,
                        "backbone": backbone,
                        "model_after_sha256": digest,
                    }
                ),
            )
        except BaseException:
            checkpoint.path.unlink(missing_ok=True)
            raise
        self.session.score()
        return checkpoint.path

    def forget(
        self,
        names: list[str],
        method: str | None,
        options: dict,
        reference: bool,
        progress: Progress | None = None,
        seed: int = 0,
    ) -> dict:
        """Unlearn ``names`` from the model in use into a new version, which becomes the model in use;
        the crops and embeddings derived from their photos are erased."""
        old = self.checkpoint
        if old is None or old.path is None:
            raise ForgetError("Open or train a model first.")
        if not self.session.matches():
            raise ForgetError("Open the folder of people this model was trained on first.")
        method = method or default_method(old.kind)
        progress = progress or Progress()
        # One progress range for the whole job, so the bar never starts over. Loading the faces is
        # instant when they are in memory and slow when they must be embedded: the time left starts after it.
        progress.estimate_time(False)
        _, train, heldout = self.session.learned_sets(progress.sub(0.0, 0.03))
        request = UnlearnRequest(old.path, self.gallery_root, names, method, options, None, None, reference, seed)
        job = progress.sub(0.03, 1.0)
        job.estimate_time(True)
        outcome = unlearn_job(request, self.device, job, self.cache, original=old, sets=(train, heldout))
        report, checkpoint = outcome.report, outcome.checkpoint
        forgotten = report["forget"]
        ids = self.audit.identities(forgotten)
        title = f"{report['method']} — forgot {', '.join(i.replace('_', ' ') for i in ids)}"
        detail = (
            f"{report['seconds']:.2f} s on {report['device']}; retain-test "
            f"{report['unlearned']['retain_test_acc']:.1%}, forget-test {report['unlearned']['forget_test_acc']:.1%}"
            + ("; identical to a retrain" if report.get("identical_to_reference") else "")
        )
        version = self._save_version(checkpoint, title, detail, report["method"], report, progress)
        try:
            erased = erase_derived(forgotten, self.gallery_root, self.cache).to_dict()
            report["erased"] = erased
            self._commit(
                checkpoint,
                self.gallery.without(forgotten),
                version=version,
                audit=lambda: self.audit.forget_entry(report, parent_record(old)["sha256"], version.sha256, erased),
            )
        except BaseException:
            self._discard(version)
            raise
        self.session.accuracy = {
            name: entry.get("test_acc") for name, entry in report["unlearned"]["per_identity"].items()
        }
        report["output_model"] = str(version.path)
        return report

    def enrol(
        self,
        name: str,
        photos: list[Path] | None = None,
        frames: list[np.ndarray] | None = None,
        epochs: int = 1,
        progress: Progress | None = None,
    ) -> Path:
        """Add a person (their photos join the gallery) and teach the model in use to know them."""
        progress = progress or Progress()
        old = self.checkpoint
        if old is None or self.gallery_root is None:
            raise ForgetError("Open a model and its folder of people first.")
        enrolled = learn_person(
            old, self.gallery_root, name, photos or [], frames or [], self.device, self.cache, progress, epochs
        )
        how = "head fitted again" if old.kind == "embedding" else f"fine-tuned {epochs} epoch(s)"
        meta = {
            **enrolled.meta,
            "created": now_iso(),
            "parent": parent_record(old),
            "root": root_of(old),
            "enrolled": enrolled.name,
            "unlearning": None,
        }
        checkpoint = Checkpoint(enrolled.model, meta, None)
        who = self.audit.identity(enrolled.name).replace("_", " ")
        version, folder = None, None
        try:
            version = self._save_version(
                checkpoint, f"enrolled {who}", f"{how}; held-out {enrolled.heldout_acc:.1%}", "enrol", None, progress
            )
            folder = join_gallery(enrolled, self.gallery_root)
            self._commit(
                checkpoint,
                None,
                version=version,
                audit=lambda: self.audit.append(
                    {
                        "event": "enrol",
                        "identities": [self.audit.identity(enrolled.name)],
                        "identities_hashed": self.audit.hash_names,
                        "photos": len(photos or []) + len(frames or []),
                        "model_before_sha256": parent_record(old)["sha256"],
                        "model_after_sha256": version.sha256,
                    }
                ),
            )
        except BaseException:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)  # the copies enrolment made, nothing of the user's
            shutil.rmtree(enrolled.staging, ignore_errors=True)
            if version is not None:
                self._discard(version)
            raise
        self.session.score()
        return version.path

    def erase_photos(self, names: list[str]) -> dict:
        """Delete these (already forgotten) people's source photos from the gallery; audited."""
        if self.gallery_root is None:
            raise ForgetError("Open the folder of people first.")
        forgotten = set((self.checkpoint.meta.get("forgotten") or []) if self.checkpoint else [])
        if not set(names) <= forgotten:
            raise ForgetError("Only the photos of people the current model has forgotten can be erased here.")
        derived = erase_derived(names, self.gallery_root, self.cache)  # while the photos can still be hashed
        erased = erase_photos(names, self.gallery_root)
        summary = {
            **erased.to_dict(),
            "cached_crops": derived.cached_crops,
            "cached_embeddings": derived.cached_embeddings,
        }
        self.audit.append(
            {
                "event": "erase-photos",
                "identities": self.audit.identities(names),
                "identities_hashed": self.audit.hash_names,
                "erased": summary,
            }
        )
        return summary

    def models_knowing(self, names: list[str]) -> list[SeenModel]:
        """Every model file the app has seen, still on disk, that recognises any of these people (the
        model in use excepted)."""
        current = Path(self.checkpoint.path).resolve() if self.checkpoint and self.checkpoint.path else None
        return [m for m in self.registry.knowing(names) if m.path.resolve() != current]

    def delete_model(self, path: str | os.PathLike) -> None:
        """Delete a model file (and, for a version, its report); audited. Never the model in use."""
        path = Path(path).resolve()
        if self.checkpoint is not None and self.checkpoint.path and path == Path(self.checkpoint.path).resolve():
            raise ForgetError("The model in use cannot be deleted; switch to another version first.")
        try:
            checkpoint = load_checkpoint(path)
            knew = [n for n in checkpoint.classes if n not in set(checkpoint.meta.get("forgotten") or [])]
            digest = sha256_file(path)
        except ForgetError:
            checkpoint, knew, digest = None, [], ""
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise ForgetError(f"{path} could not be deleted ({error.strerror}); nothing was changed.") from None
        path.with_name(path.stem + ".report.json").unlink(missing_ok=True)
        if (
            checkpoint is not None
            and checkpoint.meta.get("root")
            and path.parent == self.store.folder(root_of(checkpoint))
        ):
            number = int(path.stem[1:]) if path.stem[1:].isdigit() else None
            if number is not None:
                self._best_effort(lambda: self.store.mark_deleted(root_of(checkpoint), number, now_iso()))
        self.audit.append(
            {
                "event": "delete-model",
                "model_sha256": digest,
                "knew": self.audit.identities(knew),
                "identities_hashed": self.audit.hash_names,
            }
        )

    # --- the commit order ------------------------------------------------------------------------
    def _save_version(
        self,
        checkpoint: Checkpoint,
        title: str,
        detail: str,
        method: str,
        report: dict | None,
        progress: Progress | None,
    ) -> Version:
        """Step 1: save a new version file (never over another) and its report; not yet listed."""
        if progress is not None:
            progress.check()
        root = root_of(self.checkpoint)
        number, path = self.store.reserve(root)
        checkpoint.meta["root"] = root
        checkpoint.path = save_checkpoint(checkpoint.model, checkpoint.meta, path, exclusive=True)
        version = Version(
            number,
            path,
            title,
            detail,
            method,
            tuple(self.audit.identities(checkpoint.meta.get("forgotten") or [])),
            sha256_file(path),
            checkpoint.meta["created"],
        )
        if report is not None:
            try:
                write_json(version.report_path, {**self._private(report), "output_model": str(path)})
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        return version

    def _commit(
        self,
        checkpoint: Checkpoint,
        gallery: Gallery | None,
        version: Version | None = None,
        audit=None,
        how: str = "written",
    ) -> None:
        """Steps 2 and 3: ledger, model in use, audit line (undone together if any fails), then switch."""
        previous = self.in_use_file.read_bytes() if self.in_use_file.exists() else None
        root = root_of(checkpoint) if version is not None else None
        recorded = False
        try:
            if version is not None:
                self.store.record(
                    root,
                    {
                        "id": version.id,
                        "file": version.path.name,
                        "sha256": version.sha256,
                        "title": version.title,
                        "detail": version.detail,
                        "method": version.method,
                        "forgotten": list(version.forgotten),
                        "created": version.created,
                        "metrics": {
                            k: v
                            for k, v in (checkpoint.meta.get("metrics") or {}).items()
                            if isinstance(v, (int, float)) and v == v
                        },
                    },
                )
                recorded = True
            self._save_in_use(checkpoint.path)
            if audit is not None:
                audit()
        except BaseException:
            if recorded:
                self._best_effort(lambda: self.store.forget_record(root, version.id))
            self._best_effort(lambda: self._restore_in_use(previous))
            raise
        self._best_effort(lambda: self.registry.record(checkpoint, how, version.sha256 if version else None))
        self._switch(checkpoint, gallery)

    def _switch(self, checkpoint: Checkpoint, gallery: Gallery | None, progress: Progress | None = None) -> None:
        self.session.use(checkpoint, gallery, progress)
        self._save_in_use()

    def _private(self, report: dict) -> dict:
        """A report as it may be kept on disk: the forgotten people under their identities (hashes, when
        the user asked for them)."""
        if not self.audit.hash_names:
            return report
        rename = {name: self.audit.identity(name) for name in report["forget"]}

        def entry(model: dict | None) -> dict | None:
            if not model:
                return model
            confusion = {
                rename.get(k, k): [[rename.get(n, n), share] for n, share in v]
                for k, v in model.get("confusion", {}).items()
            }
            return {
                **model,
                "per_identity": {rename.get(k, k): v for k, v in model.get("per_identity", {}).items()},
                "confusion": confusion,
            }

        return {
            **report,
            "forget": [rename[n] for n in report["forget"]],
            **{m: entry(report.get(m)) for m in ("original", "unlearned", "reference")},
        }

    def _discard(self, version: Version) -> None:
        version.path.unlink(missing_ok=True)
        version.report_path.unlink(missing_ok=True)

    def _save_in_use(self, model: Path | None = None) -> None:
        model = model or (self.checkpoint.path if self.checkpoint else None)
        write_json(
            self.in_use_file,
            {"model": str(model) if model else None, "gallery": str(self.gallery_root) if self.gallery_root else None},
        )

    def _restore_in_use(self, previous: bytes | None) -> None:
        if previous is None:
            self.in_use_file.unlink(missing_ok=True)
        else:
            write_json(self.in_use_file, json.loads(previous))

    @staticmethod
    def _best_effort(action) -> None:
        """Run a step whose failure must not undo a committed change (a record kept for convenience)."""
        try:
            action()
        except (OSError, ForgetError):
            pass

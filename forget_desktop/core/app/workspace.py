"""The app's models and data, changed only through the operations here (called from the window's one
ML thread, from the command line and from the tests alike).

Every state change — train, forget, enrol, switch the model in use, erase photos, delete a model, let
someone back in — follows one commit order:

1. the work that can fail runs first (training, unlearning, cropping, reading the folder of people),
   while the session and the records are untouched;
2. a new model file is saved as ``<name>.uncommitted`` (see ``records.pending``);
3. one transaction of the records: the model's listing, the model in use, the request, the content
   hashes of the forgotten photos, the file actions owed (the rename of step 2, the deletions of what
   was erased) and the audit line — all of it, or none;
4. the owed file actions are carried out (and again at the next start, if the process died);
5. only then does the session switch to the new state.

So a failure, a cancel or a kill at any step leaves the records, the files and the model in use
agreeing, and whatever was committed survives a restart. ``crash_point`` marks where tests kill it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ..common.atomic import sha256_file
from ..common.crash import crash_point
from ..common.errors import ForgetError
from ..common.jobs import Progress, plural
from ..common.paths import data_dir
from ..common.plan import Plan
from ..data.dataset import LeftOut
from ..data.gallery import Gallery
from ..data.outliers import Suspect, find_outliers, frozen_embeddings
from ..faces.crops import CropCache
from ..faces.detector import DEFAULT_DETECTOR
from ..faces.frames import Frame
from ..model.checkpoint import Checkpoint, load_checkpoint, now_iso, parent_record
from ..recognition.recognise import FaceResult
from ..records.erasure import derived_files, photo_digests, photo_files
from ..records.models_seen import SeenModel, known_people
from ..records.pending import uncommitted
from ..records.store import Records
from ..records.versions import Version, root_of, slug
from ..unlearning import default_method, method_title
from ..unlearning.job import UnlearnRequest, unlearn_job
from ..unlearning.photos import gallery_without_photos
from ..unlearning.report import Erased, ForgetReport
from .commits import commit_forget, commit_trained, plan_forget, plan_forget_photos, save_uncommitted, with_names
from .enrolment import discard, join_gallery, learn_person
from .photo_views import OutlierRow, PhotoTile, outlier_rows, person_tiles
from .session import Session, View
from .train_job import TrainRequest, train_model, workspace_training_stages


def shown(names) -> str:
    return ", ".join(n.replace("_", " ") for n in names)


class KnowsForgotten(ForgetError):
    """A model that still knows people the records say were forgotten."""

    def __init__(self, path: Path, names: list[str], newest: Version | None) -> None:
        offer = (
            f" The newest version without them is {newest.path.name} ({newest.title})."
            if newest
            else " No version without them exists: forget them again after opening it."
        )
        super().__init__(
            f"{path.name} still recognises {shown(names)}, whom the records say were forgotten.{offer}"
            " Opened anyway, it names them Unknown and nothing of theirs is read from the folder."
        )
        self.path, self.names, self.newest = path, names, newest


class ForgottenPerson(ForgetError):
    """Someone a door refused because a forget request covers them."""


class Workspace:
    """The session (model in use, folder of people), and the records behind it."""

    def __init__(
        self,
        device: torch.device,
        cache: CropCache | None = None,
        models_dir: Path | None = None,
        records: Records | None = None,
    ) -> None:
        self.device = device
        self.cache = cache or CropCache()
        if records is None:
            models_dir = Path(models_dir or data_dir() / "models")
            records = Records(models_dir.parent / "records.db" if models_dir else None, models_dir)
        self.records = records
        self.models_dir = records.models_dir
        self.session = Session(device, self.cache, records.requests.exclusion)
        self.left_out = LeftOut()  # what the last training left out, as forgotten

    @property
    def audit(self):
        return self.records.audit

    @property
    def store(self):
        return self.records.versions

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
        return self.session.view(tuple(self.versions()), self.left_out.sentence())

    def versions(self) -> list[Version]:
        """The original of the model in use and every version of it still on disk, oldest first."""
        checkpoint = self.checkpoint
        if checkpoint is None or checkpoint.path is None:
            return []
        is_original = not checkpoint.meta.get("root")
        return self.store.versions(root_of(checkpoint), checkpoint.meta.get("metrics") if is_original else None)

    def in_use(self) -> dict:
        """What the last session used: ``{"model": path, "gallery": path}`` (either may be None)."""
        return self.records.in_use()

    def recognise(self, frame: Frame) -> list[FaceResult] | None:
        return self.session.recognise(frame)

    def score(self, progress: Progress | None = None) -> dict[str, float]:
        return self.session.score(progress)

    # --- opening -------------------------------------------------------------------------------
    def open_model(
        self, path: str | os.PathLike, progress: Progress | None = None, accept_forgotten: bool = False
    ) -> Checkpoint:
        """Make a model the one in use. A model that still knows someone the records say was forgotten
        raises ``KnowsForgotten`` unless ``accept_forgotten``; opened anyway, it names them Unknown and
        nothing of theirs is read. Every change of the model in use is an audit line."""
        checkpoint = with_names(load_checkpoint(path, self.device), self.gallery_root, self.records)
        still = self.still_known_forgotten(checkpoint)
        if still and not accept_forgotten:
            raise KnowsForgotten(Path(path), self.audit.identities(still), self.newest_without(checkpoint, still))
        gallery = self.session.gallery_for(checkpoint, progress)  # may fail: before anything is written
        digest = sha256_file(checkpoint.path)
        before = self.records.in_use()
        with self.records.transaction():
            self.records.seen.record(checkpoint, "opened", digest)
            self.records.set_in_use(checkpoint.path.resolve(), digest, self.gallery_root)
            if before.get("model_sha256") != digest:
                self.audit.append(
                    {
                        "event": "use-model",
                        "model_before_sha256": before.get("model_sha256"),
                        "model_after_sha256": digest,
                        "still_knows_forgotten": self.audit.identities(still),
                        "identities_hashed": self.audit.hash_names,
                    }
                )
        self.session.use(checkpoint, gallery)
        return checkpoint

    def open_gallery(self, folder: str | os.PathLike, progress: Progress | None = None) -> Gallery:
        """Read a folder of people (forgotten people and photos are not read)."""
        if self.checkpoint is not None and self.checkpoint.meta.get("class_names_hashed"):
            with_names(self.checkpoint, Path(folder), self.records)
            self.session.use(self.checkpoint)
        gallery = self.session.read_gallery(folder, self.checkpoint, progress)
        self.records.set_gallery_in_use(Path(folder))
        self.session.gallery, self.session.gallery_root = gallery, Path(folder)
        return gallery

    def still_known_forgotten(self, checkpoint: Checkpoint) -> list[str]:
        """People this model still recognises whom a forget request in force names."""
        return self.records.requests.forgotten_among(known_people(checkpoint))

    def newest_without(self, checkpoint: Checkpoint, names: list[str]) -> Version | None:
        """The newest version of this model's line that knows none of ``names``."""
        hashes = {self.records.seen.person_hash(n) for n in names}

        def without(version: Version) -> bool:
            knows = self.records.seen.knows(version.sha256) if version.sha256 else set()
            if knows:
                return not knows & hashes
            return all({n, self.audit.hashed(n)} & set(version.forgotten) for n in names)  # older records

        candidates = [v for v in self.store.versions(root_of(checkpoint)) if v.id and without(v)]
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
        """Train a new model on the open folder of people, leaving forgotten people and photos out; it
        becomes the model in use (``left_out`` says what was left out)."""
        if self.gallery_root is None:
            raise ForgetError("Open a folder of people first.")
        exclusion = self.records.requests.exclusion()
        request = TrainRequest(
            self.gallery_root, backbone, None, weights, epochs, kind=kind, exclude=exclusion, detector=detector
        )
        plan = Plan(progress or Progress(), workspace_training_stages(request, self.device, self.cache))
        with plan.stage("train") as step:
            result = train_model(request, self.device, step, self.cache)
        checkpoint = result.checkpoint
        with plan.stage(f"keep-model-{checkpoint.kind}"):
            stem = f"{slug(self.gallery_root.name)}-{backbone}-{checkpoint.kind}"
            path = self._free_name(lambda n: self.models_dir / f"{stem}{'' if n == 1 else f'-{n}'}.ckpt")
            digest = save_uncommitted(checkpoint, path, self.records)
            left_out = result.gallery.split.left_out
            commit_trained(self.records, checkpoint, digest, left_out, self.gallery_root, in_use=True)
            self.left_out = left_out
            self.session.use(checkpoint, result.gallery)
        with plan.stage(f"score-{checkpoint.kind}") as step:
            self.session.score(step)
        return path

    def forget(
        self,
        names: list[str],
        method: str | None,
        options: dict,
        reference: bool,
        progress: Progress | None = None,
        seed: int = 0,
    ) -> ForgetReport:
        """Unlearn ``names`` from the model in use into a new version, which becomes the model in use;
        the request, their photos' content hashes and the erasure of what was derived from their
        photos are one change of the records."""
        old = self._model_to_forget_from()

        def keep(outcome, step: Progress) -> ForgetReport:
            forgotten = list(outcome.report.forget)
            plan = plan_forget(outcome.report, self.gallery_root, self.cache)
            title = f"{method_title(outcome.report.method)} — forgot {shown(self.audit.identities(forgotten))}"
            after = self.gallery.without(forgotten)
            return self._commit_forget(old, outcome, plan, title, "forget-test", after, step, forgotten)

        return self._unlearn(old, names, [], method, options, reference, progress or Progress(), seed, keep).kept

    def forget_photos(
        self,
        photos: list[Path],
        method: str | None,
        options: dict,
        reference: bool,
        progress: Progress | None = None,
        seed: int = 0,
    ) -> ForgetReport:
        """Unlearn these photos (of people who stay known) from the model in use into a new version, which
        becomes the model in use: the same commit as forgetting people (``commit_forget``, scope "photos"),
        with the photos' content hashes and the erasure of the crops and embeddings made from them."""
        old = self._model_to_forget_from()
        if not photos:
            raise ForgetError("Tick the photos to forget first.")

        def keep(outcome, step: Progress) -> ForgetReport:
            report = outcome.report
            plan = plan_forget_photos(outcome.photos, self.cache)
            who = shown(self.audit.identities(list(report.forget)))
            title = f"{method_title(report.method)} — forgot {plural(report.photos, 'photo')} of {who}"
            digests = {d for ds in outcome.photos.values() for d in ds}
            after = gallery_without_photos(self.gallery.without([]), digests)
            return self._commit_forget(old, outcome, plan, title, "their other photos", after, step)

        return self._unlearn(old, [], photos, method, options, reference, progress or Progress(), seed, keep).kept

    def _model_to_forget_from(self) -> Checkpoint:
        """The model in use, when it can be unlearned from: saved, and its folder of people open."""
        old = self.checkpoint
        if old is None or old.path is None:
            raise ForgetError("Open or train a model first.")
        if not self.session.matches():
            raise ForgetError("Open the folder of people this model was trained on first.")
        return old

    def _unlearn(
        self,
        old: Checkpoint,
        names: list[str],
        photos: list[Path],
        method: str | None,
        options: dict,
        reference: bool,
        progress: Progress,
        seed: int,
        keep,
    ):
        """Run the forget job (people, or photos of people who stay known) on the model in use; ``keep`` saves
        and commits its outcome, as the job's last stage."""
        # One progress range for the whole job, so the bar never starts over. Loading the faces is
        # instant when they are in memory and slow when they must be embedded: the time left starts after it.
        progress.estimate_time(False)
        if names:  # what to erase is found after the job: read the cache's identities now, before time is shown
            self.cache.read_identities(progress.sub(0.0, 0.01))
        _, train, heldout = self.session.learned_sets(progress.sub(0.01, 0.03))
        method = method or default_method(old.kind)
        request = UnlearnRequest(old.path, self.gallery_root, names, method, options, None, None, reference, seed)
        request.drop = tuple(self.gallery.absent)  # forgotten earlier, still known: dropped from the new version too
        request.forget_photos = [Path(p) for p in photos]
        job = progress.sub(0.03, 1.0)
        job.estimate_time(True)
        return unlearn_job(request, self.device, job, self.cache, original=old, sets=(train, heldout), keep=keep)

    def _commit_forget(
        self,
        old: Checkpoint,
        outcome,
        plan,
        title: str,
        forgotten_label: str,
        gallery_after,
        progress: Progress,
        forgotten: list[str] | None = None,
    ) -> ForgetReport:
        """Save the unlearned model as a version and commit the request in one change of the records; it
        becomes the model in use, reading ``gallery_after``."""
        report, checkpoint = outcome.report, outcome.checkpoint
        detail = (
            f"{report.seconds:.2f} s on {report.device}; retain-test {report.unlearned.retain_test_acc:.1%}, "
            f"{forgotten_label} {report.unlearned.forget_test_acc:.1%}"
            + ("; identical to a retrain" if report.identical_to_reference else "")
        )
        version = self._save_version(checkpoint, title, detail, report.method, progress)
        if forgotten is not None:
            version = dataclasses.replace(version, forgotten=tuple(self.audit.identities(forgotten)))
        report = commit_forget(
            self.records,
            report,
            checkpoint,
            version.sha256,
            parent_record(old)["sha256"],
            plan,
            in_use_gallery=self.gallery_root,
            version=version,
            root=root_of(checkpoint),
        )
        self.session.use(checkpoint, gallery_after)
        self.session.accuracy = {
            name: entry.get("test_acc")
            for name, entry in report.unlearned.per_identity.items()
            if name in checkpoint.classes
        }
        return report

    def move_photos(
        self, photos: list[Path], person: str, method: str | None, progress: Progress | None = None
    ) -> tuple[ForgetReport, list[Path]]:
        """A photo filed under the wrong person: forget it from the model in use (``forget_photos``), then
        move the file into ``person``'s folder, where training learns it as them (the move is recorded, so
        the records no longer keep it out). Returns the report and the photos' new paths."""
        if self.gallery_root is None:
            raise ForgetError("Open the folder of people first.")
        target = self.gallery_root / person
        if person not in (self.checkpoint.classes if self.checkpoint else []) or not target.is_dir():
            raise ForgetError(f"{person.replace('_', ' ')} is not one of this model's people; choose someone it knows.")
        photos = [Path(p) for p in photos]
        if any(p.parent.resolve() == target.resolve() for p in photos):
            raise ForgetError(f"A chosen photo is already in {person.replace('_', ' ')}'s folder.")
        progress = progress or Progress()
        report = self.forget_photos(photos, method, {}, False, progress.sub(0.0, 0.95))
        moved, digests = [], photo_digests(photos)
        for photo in photos:
            destination = target / photo.name
            number = 2
            while destination.exists():
                destination = target / f"{photo.stem}-{number}{photo.suffix}"
                number += 1
            try:
                os.replace(photo, destination)
            except OSError as error:
                raise ForgetError(
                    f"{photo.name} was forgotten but could not be moved into {person.replace('_', ' ')}'s folder "
                    f"({error.strerror or error}); move it by hand — until then it stays left out."
                ) from None
            moved.append(destination)
        self.records.requests.moved_photos(digests, report.request_id, person)
        progress(1.0, f"Moved {plural(len(moved), 'photo')} to {person.replace('_', ' ')}")
        return report, moved

    def keep_photos(self, digests: list[str]) -> None:
        """The user looked at these suspicious photos and keeps them: remembered (the outlier list leaves
        them out from now on), audited."""
        self.records.requests.keep_photos(list(digests))

    def outliers(self, progress: Progress | None = None) -> list[Suspect]:
        """Every photo of the open folder's people, most suspicious first, with the reasons (``outliers``);
        the photos the user chose to keep are left out."""
        if self.checkpoint is None or not self.session.matches():
            raise ForgetError("Open a model and the folder of people it was trained on first.")
        progress = progress or Progress()
        crops = (self.gallery.train, self.gallery.heldout)
        if self.checkpoint.kind == "embedding":
            _, train, heldout = self.session.learned_sets(progress.sub(0.0, 0.6))
        else:
            train, heldout, _ = frozen_embeddings(
                self.checkpoint, *crops, self.device, self.cache, progress.sub(0.0, 0.6)
            )
        kept = self.records.requests.kept_photos()
        return find_outliers(self.gallery.classes, crops, (train, heldout), self.cache, kept, progress.sub(0.6, 1.0))

    def person_photos(self, name: str) -> tuple[PhotoTile, ...]:
        """A snapshot of one person's photos for the photo grid (empty when the folder is not the model's)."""
        if self.gallery is None or not self.session.matches():
            return ()
        return person_tiles(self.gallery, name)

    def outlier_rows(self, top: int = 50, progress: Progress | None = None) -> tuple[OutlierRow, ...]:
        """A snapshot of the ``top`` most suspicious photos for the outlier list."""
        return outlier_rows(self.gallery, self.outliers(progress), top)

    def enrol(
        self,
        name: str,
        photos: list[Path] | None = None,
        frames: list[np.ndarray] | None = None,
        epochs: int = 1,
        progress: Progress | None = None,
    ) -> Path:
        """Add a person (their photos join the gallery) and teach the model in use to know them. A
        forgotten person, or photos of one, are refused until the person is let back in."""
        progress = progress or Progress()
        old = self.checkpoint
        if old is None or self.gallery_root is None:
            raise ForgetError("Open a model and its folder of people first.")
        self.refuse_forgotten(name, photos or [])
        enrolled = learn_person(
            old,
            self.gallery_root,
            name,
            photos or [],
            frames or [],
            self.device,
            self.cache,
            progress,
            epochs,
            self.records.requests.exclusion(),
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
                checkpoint, f"enrolled {who}", f"{how}; held-out {enrolled.heldout_acc:.1%}", "enrol", progress
            )
            folder = join_gallery(enrolled, self.gallery_root)
            with self.records.transaction():
                self.store.record(root_of(checkpoint), version)
                self.records.files.finish(version.path, version.sha256)
                self.records.seen.record(checkpoint, "written", version.sha256, version.path)
                self.records.set_in_use(version.path, version.sha256, self.gallery_root)
                self.audit.append(
                    {
                        "event": "enrol",
                        "identities": [self.audit.identity(enrolled.name)],
                        "identities_hashed": self.audit.hash_names,
                        "photos": len(photos or []) + len(frames or []),
                        "model_before_sha256": parent_record(old)["sha256"],
                        "model_after_sha256": version.sha256,
                    }
                )
        except BaseException:
            discard(folder or enrolled.folder, self.cache)  # the copies enrolment made, nothing of the user's
            shutil.rmtree(enrolled.staging, ignore_errors=True)
            if version is not None:
                uncommitted(version.path).unlink(missing_ok=True)
            raise
        self.records.finish_owed()
        self.session.use(checkpoint, enrolled.gallery)
        self.session.score()
        return version.path

    def refuse_forgotten(self, name: str, photos: list[Path]) -> None:
        """Raise one sentence if ``name`` or any of ``photos`` is covered by a forget request in force."""
        person = self.records.requests.forgotten(name.strip().replace(" ", "_"))
        if person is not None:
            raise ForgottenPerson(
                f"{name.strip()} was forgotten (request {person.request_id}, {person.time[:10]}), so they were "
                "not enrolled; let them back in from the forget history first if they asked to return."
            )
        digests = self.records.requests.exclusion().digests
        matching = [p for p in photos if digests and sha256_file(p) in digests]
        if matching:
            raise ForgottenPerson(
                f"{len(matching)} of these photos belong to a forgotten person, so nobody was enrolled; "
                "remove them, or let that person back in first."
            )

    def reinclude(self, name: str) -> dict:
        """Let a forgotten person back in (the user named them and confirmed): its own audit line.
        They are learned again only when a model is trained or they are enrolled."""
        return self.records.requests.reinclude(name)

    def erase_photos(self, names: list[str]) -> Erased:
        """Delete these forgotten people's source photos from the gallery (and anything still derived
        from them); owed in the records first, audited."""
        if self.gallery_root is None:
            raise ForgetError("Open the folder of people first.")
        names = self.folder_names(names)
        people = [self.records.requests.forgotten(n) for n in names]
        if not all(people):
            raise ForgetError("Only the photos of people who were forgotten can be erased here.")
        files = photo_files(names, self.gallery_root)
        digests = set(photo_digests([path for what, path in files if what == "photo"]))
        derived = derived_files(names, self.cache, digests)
        request_id = max(p.request_id for p in people)
        with self.records.transaction():
            self.records.files.delete(derived + files, request_id)
            self.audit.append(
                {
                    "event": "erase-photos",
                    "identities": self.audit.identities(names),
                    "identities_hashed": self.audit.hash_names,
                    "request": request_id,
                    "erased": {
                        "photos": sum(what == "photo" for what, _ in files),
                        "cached_crops": sum(what == "crop" for what, _ in derived),
                        "cached_embeddings": sum(what == "embedding" for what, _ in derived),
                    },
                }
            )
        crash_point("erase-photos:committed")
        self.records.finish_owed()
        if self.gallery is not None and self.checkpoint is not None:
            self.session.use(self.checkpoint, self.gallery)
        return Erased(
            sum(what == "crop" for what, _ in derived),
            sum(what == "embedding" for what, _ in derived),
            sum(what == "photo" for what, _ in files),
            0,
            sum(what == "folder" for what, _ in files),
        )

    def folder_names(self, identities: list[str]) -> list[str]:
        """People as the open folder names them (identities kept as salted hashes are looked up)."""
        root = self.gallery_root
        folders = [p.name for p in root.iterdir() if p.is_dir()] if root and root.is_dir() else []
        by_hash = {self.audit.hashed(f): f for f in folders}
        return [by_hash.get(i, i) for i in identities]

    def models_knowing(self, names: list[str]) -> list[SeenModel]:
        """Every model file the app has seen, still on disk, that recognises any of these people (the
        model in use excepted)."""
        current = Path(self.checkpoint.path).resolve() if self.checkpoint and self.checkpoint.path else None
        return [m for m in self.records.seen.knowing(names) if m.path.resolve() != current]

    def delete_model(self, path: str | os.PathLike) -> None:
        """Delete a model file; audited. Never the model in use."""
        path = Path(path).resolve()
        if self.checkpoint is not None and self.checkpoint.path and path == Path(self.checkpoint.path).resolve():
            raise ForgetError("The model in use cannot be deleted; switch to another version first.")
        try:
            checkpoint = load_checkpoint(path)
            knew, digest = known_people(checkpoint), sha256_file(path)
        except ForgetError:
            checkpoint, knew, digest = None, [], ""
        version = None
        if checkpoint is not None and checkpoint.meta.get("root"):
            root = root_of(checkpoint)
            version = next((v for v in self.store.versions(root) if v.id and v.path.resolve() == path), None)
        with self.records.transaction():
            self.records.files.delete([("model", path)])
            if version is not None:
                self.store.mark_deleted(root_of(checkpoint), version.id, now_iso())
            self.audit.append(
                {
                    "event": "delete-model",
                    "model_sha256": digest,
                    "knew": self.audit.identities(knew),
                    "identities_hashed": self.audit.hash_names,
                }
            )
        self.records.finish_owed()

    # --- helpers of the commit order -------------------------------------------------------------
    @staticmethod
    def _free_name(name_for) -> Path:
        """The first name ``name_for(n)`` gives that no file (committed or not) has yet."""
        number = 1
        while name_for(number).exists() or uncommitted(name_for(number)).exists():
            number += 1
        return name_for(number)

    def _save_version(
        self, checkpoint: Checkpoint, title: str, detail: str, method: str, progress: Progress | None
    ) -> Version:
        """Save a new version file, uncommitted (never over another); it is listed only at the commit."""
        if progress is not None:
            progress.check()
        root = root_of(self.checkpoint)
        number, path = self.store.reserve(root)
        checkpoint.meta["root"] = root
        digest = save_uncommitted(checkpoint, path, self.records)
        metrics = {
            k: v for k, v in (checkpoint.meta.get("metrics") or {}).items() if isinstance(v, (int, float)) and v == v
        }
        return Version(number, path, title, detail, method, (), digest, checkpoint.meta["created"], metrics)

"""What the window asks of the workspace: each operation is a ``Job`` whose function runs on the ML
thread and returns a read-only snapshot (``View``), which the window renders on the GUI thread."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from ..core.app.workspace import KnowsForgotten
from ..core.common.errors import ForgetError
from ..core.common.jobs import duration, indefinite
from ..core.faces.detector import DEFAULT_DETECTOR
from .dialogs import EnrolDialog, TrainDialog
from .worker import Job


@dataclass(frozen=True)
class Blocked:
    """A model that was not opened because it still knows forgotten people (what to offer instead)."""

    path: Path
    sentence: str
    newest: Path | None


def forgot_sentence(result, seconds: float) -> str:
    """How a forget job ended, for the status line and the Forget panel (``result[0]`` is its report)."""
    report = result[0]
    what = ", ".join(n.replace("_", " ") for n in report.forget)
    if report.scope == "photos":
        what = f"{report.photos} photo{'s' if report.photos != 1 else ''} of {what}"
    reference = f"; the reference retrain: {report.reference_seconds:.2f} s" if report.reference_seconds else ""
    return f"Forgot {what} in {duration(seconds)} in all ({report.method} itself: {report.seconds:.2f} s{reference})"


class WorkspaceActions:
    """Mixed into the main window: jobs for the workspace's operations, and their confirmations."""

    # --- opening -----------------------------------------------------------------------------
    def open_model(self, path: str | os.PathLike, accept_forgotten: bool = False) -> Job:
        path = Path(path)

        def run(progress):
            try:
                self.workspace.open_model(path, progress, accept_forgotten)
            except KnowsForgotten as blocked:
                return Blocked(path, str(blocked), blocked.newest.path if blocked.newest else None)
            self.workspace.score(progress)
            return self.workspace.view()

        def done(result) -> None:
            if isinstance(result, Blocked):
                self.warn_forgotten(result)
            else:
                self.render(result)

        return self.run(Job(f"Opening {path.name}", run, done))

    def warn_forgotten(self, blocked: Blocked) -> None:
        """A model that still knows forgotten people opens only after the user says so."""
        box = QMessageBox(QMessageBox.Icon.Warning, "This model has not forgotten them", blocked.sentence, parent=self)
        newest = (
            box.addButton(f"Open {blocked.newest.name}", QMessageBox.ButtonRole.AcceptRole) if blocked.newest else None
        )
        anyway = box.addButton("Open it anyway", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if newest is not None and box.clickedButton() is newest:
            self.open_model(blocked.newest)
        elif box.clickedButton() is anyway:
            self.open_model(blocked.path, accept_forgotten=True)

    def open_data(self, folder: str | os.PathLike) -> Job:
        folder = Path(folder)

        def run(progress):
            self.workspace.open_gallery(folder, progress)
            self.workspace.score(progress)
            return self.workspace.view()

        def done(view) -> None:
            self.render(view)
            if view.skipped:
                name, why = view.skipped[0]
                self.show_error(
                    f"{len(view.skipped)} folder(s) were left out for having too few photos (e.g. {name}: {why})."
                )

        return self.run(Job(f"Reading people in {folder.name}", run, done))

    # --- training and enrolment -----------------------------------------------------------------
    def train(self) -> None:
        if self.view.gallery_root is None:
            self.show_error("Open a folder of people first: training needs one sub-folder of photos per person.")
            return
        dialog = TrainDialog(str(self.view.gallery_root), self)
        dialog.download_requested.connect(lambda item: self.download_weights(item, dialog))
        if dialog.exec():
            self.start_training(*dialog.choice())

    def start_training(
        self,
        backbone: str,
        weights: str | None,
        epochs: int | None,
        kind: str | None = None,
        detector: str = DEFAULT_DETECTOR,
    ) -> Job:
        """Train a model on the open folder of people as a job; it becomes the model in use."""

        def run(progress):
            self.workspace.train(backbone, weights, epochs, kind, progress, detector=detector)
            return self.workspace.view()

        return self.run(Job(f"Training {indefinite(kind or 'new')} {backbone} model", run, self.render))

    def download_weights(self, item: str, dialog: TrainDialog | None = None) -> Job:
        """Fetch a backbone's pretrained weights; the Train dialog shows the progress."""
        from ..core.common.downloads import ITEMS, download_weights

        def run(progress):
            return str(download_weights(item, progress))

        job = Job(
            f"Downloading the {ITEMS[item].title} weights",
            run,
            lambda _path: dialog and dialog.download_finished(True, "Downloaded."),
            lambda text: dialog.download_finished(False, text) if dialog else self.show_error(text),
        )
        if dialog is None:
            return self.run(job)
        job = self.run(dialog.watch(job))
        dialog.cancel_download = lambda: self.worker.cancel(job)
        return job

    def enrol(self) -> None:
        dialog = EnrolDialog(self.sources.is_camera, self)
        if not dialog.exec():
            return
        name, folder = dialog.name.text(), dialog.folder.text().strip()
        photos = sorted(p for p in Path(folder).iterdir() if p.is_file()) if folder and Path(folder).is_dir() else []
        self.start_enrol(name, photos, self.sources.captured_frames(dialog.captures.value()) if not photos else [])

    def start_enrol(self, name: str, photos: list[Path], frames: list) -> Job:
        """Add a person and teach the model in use to know them, as a job."""

        def run(progress):
            self.workspace.enrol(name, photos, frames, progress=progress)
            return self.workspace.view()

        return self.run(Job(f"Enrolling {name}", run, self.render))

    # --- forgetting and erasure ----------------------------------------------------------------
    def run_forget(
        self, method: str | None, options: dict, reference: bool, names: list[str] | None = None
    ) -> Job | None:
        names = list(self.chosen if names is None else names)
        if not names:
            self.show_error("Tick the people to forget in the Identities panel first.")
            return None
        if method:
            self.settings.method = method

        def run(progress):
            report = self.workspace.forget(names, method, options, reference, progress)
            return report, self.workspace.view()

        def done(result) -> None:
            report, view = result
            self.results.show_report(report, Path(report.output_model).name, view.model.sha256 if view.model else None)
            self.identities.clear_choice()
            self.tabs.setCurrentWidget(self.results)
            self.render(view)
            self.refresh_history()

        title = f"Forgetting {', '.join(n.replace('_', ' ') for n in names)}"
        return self.run(self.forget_panel.watch(Job(title, run, done, finished_text=forgot_sentence)))

    # --- forgetting photos, and the photos that do not belong --------------------------------------
    def show_person_photos(self, name: str) -> Job:
        """Fill the photo grid with one person's photos (a snapshot made on the ML thread)."""
        return self.run(
            Job(
                f"Reading the photos of {name.replace('_', ' ')}",
                lambda _progress: self.workspace.person_photos(name),
                lambda tiles: self.identities.photos.show_photos(name, list(tiles)),
                quiet=True,
            )
        )

    def photo_options(self) -> dict:
        """The Forget panel's options that the user changed: the others stay as the method's recipe for
        forgetting photos says (``photos.PHOTO_OPTIONS``)."""
        from ..core.unlearning import REGISTRY

        defaults = REGISTRY[self.forget_panel.method].defaults()
        return {k: v for k, v in self.forget_panel.options().items() if defaults.get(k) != v}

    def run_forget_photos(
        self, paths: list[str], method: str | None = None, reference: bool | None = None
    ) -> Job | None:
        """Forget these photos (their people stay known) with the Forget panel's method: the same job,
        progress, cancel, records and erasure as forgetting people."""
        if not paths:
            self.show_error("Tick the photos to forget first (choose a person, then tick their photos).")
            return None
        if self.worker.busy:
            self.show_error("Another job is running; wait for it or cancel it (Esc) first.")
            return None
        method = method or self.forget_panel.method
        options = self.photo_options() if method == self.forget_panel.method else {}
        reference = self.forget_panel.reference.isChecked() if reference is None else reference
        person = self.identities.photos.person

        def run(progress):
            report = self.workspace.forget_photos([Path(p) for p in paths], method, options, reference, progress)
            tiles = self.workspace.person_photos(person) if person else ()
            return report, self.workspace.view(), tiles

        def done(result) -> None:
            report, view, tiles = result
            self.results.show_report(report, Path(report.output_model).name, view.model.sha256 if view.model else None)
            self.tabs.setCurrentWidget(self.results)
            self.render(view)
            if person:
                self.identities.photos.show_photos(person, list(tiles))
            self._drop_outliers({p for p in paths})
            self.refresh_history()

        title = f"Forgetting {len(paths)} photo{'s' if len(paths) != 1 else ''}"
        return self.run(self.forget_panel.watch(Job(title, run, done, finished_text=forgot_sentence)))

    def find_outliers(self, top: int = 50) -> Job:
        """Rank the open folder's photos by how little they belong; the list shows the reasons."""

        def run(progress):
            rows = self.workspace.outlier_rows(top, progress)
            return rows, list(self.workspace.checkpoint.classes)

        def done(result) -> None:
            rows, people = result
            self.identities.outliers.show_rows(list(rows), people)
            self.identities.lower.setCurrentWidget(self.identities.outliers)

        return self.run(Job("Finding the photos that do not belong", run, done))

    def move_photos(self, paths: list[str], person: str) -> Job | None:
        """Forget photos filed under the wrong person, then file them under ``person``."""
        if not paths or not person:
            self.show_error("Select the photos to move and the person they show.")
            return None
        if self.worker.busy:
            self.show_error("Another job is running; wait for it or cancel it (Esc) first.")
            return None
        method = self.forget_panel.method

        def run(progress):
            report, moved = self.workspace.move_photos([Path(p) for p in paths], person, method, progress)
            return report, moved, self.workspace.view()

        def done(result) -> None:
            report, moved, view = result
            self.results.show_report(report, Path(report.output_model).name, view.model.sha256 if view.model else None)
            self.render(view)
            self._drop_outliers(set(paths))
            self.refresh_history()
            self.statusBar().showMessage(
                f"Forgot {len(moved)} photo{'s' if len(moved) != 1 else ''} from {', '.join(report.forget)} and moved "
                f"{'it' if len(moved) == 1 else 'them'} to {person.replace('_', ' ')}'s folder: a model trained on "
                "the folder learns them as that person.",
                12000,
            )

        title = f"Moving {len(paths)} photo(s) to {person.replace('_', ' ')}"
        return self.run(self.forget_panel.watch(Job(title, run, done)))

    def keep_photos(self, digests: list[str]) -> Job | None:
        """The user keeps these photos: remembered in the records, and gone from the list."""
        if not digests:
            return None

        def run(_progress):
            self.workspace.keep_photos(digests)
            return len(digests)

        def done(count) -> None:
            self.identities.outliers.show_rows(
                [r for r in self.identities.outliers.rows if r.sha256 not in set(digests)],
                [
                    self.identities.outliers.person_box.itemData(i)
                    for i in range(self.identities.outliers.person_box.count())
                ],
            )
            self.statusBar().showMessage(
                f"Kept {count} photo{'s' if count != 1 else ''}: they are not listed again.", 8000
            )

        return self.run(Job("Keeping photos", run, done))

    def _drop_outliers(self, paths: set[str]) -> None:
        view = self.identities.outliers
        if view.rows:
            box = view.person_box
            view.show_rows([r for r in view.rows if r.path not in paths], [box.itemData(i) for i in range(box.count())])

    def erase_photos(self, names: list[str], confirm: bool = True) -> Job | None:
        """Delete the forgotten people's source photos, after a yes that names the folder and the count."""
        rows = {row.name: row for row in self.view.rows}
        count = sum(rows[n].images for n in names if n in rows)
        root = self.view.gallery_root
        if root is None:
            self.show_error("Open the folder of people that holds their photos first (File → Open folder of people).")
            return None
        if confirm:
            folders = ", ".join(str(root / n) for n in names)
            answer = QMessageBox.question(
                self,
                "Delete photos",
                f"Permanently delete {count} photo{'s' if count != 1 else ''} of "
                f"{', '.join(n.replace('_', ' ') for n in names)} — the folder{'s' if len(names) > 1 else ''} "
                f"{folders}? This cannot be undone.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None

        def run(_progress):
            return self.workspace.erase_photos(names), self.workspace.view()

        def done(result) -> None:
            erased, view = result
            self.statusBar().showMessage(f"Deleted {erased.photos} photos.", 8000)
            self.results.photos_erased(erased)
            self.render(view)
            self.refresh_history()

        return self.run(Job("Deleting photos", run, done))

    def delete_models_knowing(self, names: list[str], confirm: bool = True) -> Job:
        """Find every model the app has seen that still knows these people; delete them after a yes
        that names each file."""

        def run(_progress):
            return self.workspace.models_knowing(names)

        def found(models) -> None:
            if not models:
                self.statusBar().showMessage("No other model file the app has seen still knows them.", 8000)
                return
            listing = "\n".join(f"• {m.path}" for m in models)
            if (
                confirm
                and QMessageBox.question(
                    self,
                    "Models that still know them",
                    f"These {len(models)} model file(s) still recognise "
                    f"{', '.join(n.replace('_', ' ') for n in names)}:\n{listing}\n\nDelete them?",
                )
                != QMessageBox.StandardButton.Yes
            ):
                return
            self.delete_models([m.path for m in models])

        return self.run(Job("Looking for models that still know them", run, found))

    def delete_models(self, paths: list[Path]) -> Job:
        def run(_progress):
            for path in paths:
                self.workspace.delete_model(path)
            return self.workspace.view()

        def done(view) -> None:
            self.statusBar().showMessage(f"Deleted {len(paths)} model file(s).", 8000)
            self.render(view)

        return self.run(Job("Deleting model files", run, done))

    # --- the forget history -----------------------------------------------------------------------
    def refresh_history(self, show_last: bool = False) -> Job:
        """Read the forget requests from the records (on the ML thread); ``show_last`` also puts the
        newest request's report in Results (after a restart)."""

        def run(_progress):
            return tuple(self.workspace.records.requests.all())

        def done(requests) -> None:
            self.history.show_requests(list(requests))
            if show_last and self.results.report is None:
                last = next((r for r in reversed(requests) if r.report is not None), None)
                if last is not None:
                    self._show_request_report(last)

        return self.run(Job("Reading the forget history", run, done, quiet=True))

    def _show_request_report(self, request) -> None:
        name = Path(request.model_path).name if request.model_path else "the model it made"
        report = request.report.with_(erased=request.erased, request_id=request.id)
        self.results.show_report(report, name, request.model_after_sha256)
        self.results.set_model_in_use(self.view.model.sha256 if self.view.model else None)

    def show_request(self, request_id: int) -> None:
        request = next((r for r in self.history.requests if r.id == request_id), None)
        if request is not None and request.report is not None:
            self._show_request_report(request)
            self.tabs.setCurrentWidget(self.results)

    def _request_people(self, request_id: int) -> list[str]:
        request = next((r for r in self.history.requests if r.id == request_id), None)
        return list(request.people) if request else []

    def export_certificate(self, request_id: int, path: str | None = None) -> Job | None:
        """Write a request's certificate (PDF, HTML or JSON, by the file's extension)."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self,
                "Export certificate",
                str(Path(self.settings.last_folder) / f"forget-certificate-{request_id}.pdf"),
                "PDF (*.pdf);;HTML (*.html);;JSON (*.json)",
            )
        if not path:
            return None
        from ..core.records.certificate import certificate, certificate_html, write_certificate

        if Path(path).suffix.lower() != ".pdf":
            return self.run(
                Job(
                    "Writing the certificate",
                    lambda _p: write_certificate(self.workspace.records, request_id, path),
                    lambda written: self.statusBar().showMessage(f"Saved {written}", 8000),
                )
            )

        def saved(html: str) -> None:
            from .certificate_pdf import write_pdf

            try:
                written = write_pdf(html, path)
            except ForgetError as error:
                self.show_error(str(error))
                return
            self.statusBar().showMessage(f"Saved {written}", 8000)

        return self.run(
            Job(
                "Writing the certificate",
                lambda _p: certificate_html(certificate(self.workspace.records, request_id)),
                saved,
            )
        )

    def let_back_in(self, request_id: int, confirm: bool = True) -> Job | None:
        """Let the people of a request back in, after a yes that says what it means (audited)."""
        people = self._request_people(request_id)
        if not people:
            return None
        who = ", ".join(n.replace("_", " ") for n in people)
        if confirm and (
            QMessageBox.question(
                self,
                "Let them back in",
                f"Let {who} back in? Only do this if they asked to return. Training and enrolment may then learn "
                "them again from their photos; this is recorded in the audit log. The models already made stay "
                "as they are.",
            )
            != QMessageBox.StandardButton.Yes
        ):
            return None

        def run(_progress):
            for name in people:
                self.workspace.reinclude(name)
            return tuple(self.workspace.records.requests.all()), self.workspace.view()

        def done(result) -> None:
            requests, view = result
            self.history.show_requests(list(requests))
            self.render(view)
            self.statusBar().showMessage(f"{who}: let back in.", 8000)

        return self.run(Job(f"Letting {who} back in", run, done))

    # --- first run -------------------------------------------------------------------------------
    def get_started(self) -> Job:
        """Download what is missing, train the default model and land on Recognise with a photo open."""
        from ..core.app.first_run import get_started

        def run(progress):
            photo = get_started(self.workspace, progress)
            return photo, self.workspace.view()

        def done(result) -> None:
            photo, view = result
            self.render(view)
            self.sources.open_files([str(photo)])
            self.welcome.finished("Ready.")

        def failed(text: str) -> None:
            self.welcome.finished(f"{text} Press Get started again to go on from where it stopped.")
            self.show_error(text)

        return self.run(self.welcome.watch(Job("Getting started", run, done, failed)))

    def download_demo(self) -> Job | None:
        from PySide6.QtWidgets import QFileDialog

        from ..core.common.downloads import download_lfw_people

        folder = QFileDialog.getExistingDirectory(self, "Where to put the LFW demo", self.settings.last_folder)
        if not folder:
            return None
        dest = Path(folder) / "lfw-people"
        return self.run(
            Job(
                "Downloading LFW",
                lambda progress: download_lfw_people(dest, progress=progress),
                lambda path: self.open_data(path),
            )
        )

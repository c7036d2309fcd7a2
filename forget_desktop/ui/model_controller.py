"""The jobs that open, train and extend a model — from the File menu, the welcome page, the Forget panel's
versions and the Identities panel's Enrol — with their confirmations and file dialogs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox

from ..core.app.workspace import KnowsForgotten
from ..core.common.jobs import indefinite
from ..core.common.paths import data_dir
from ..core.faces.detector import DEFAULT_DETECTOR
from .dialogs import EnrolDialog, TrainDialog
from .worker import Job

if TYPE_CHECKING:
    from .main_window import MainWindow


@dataclass(frozen=True)
class Blocked:
    """A model that was not opened because it still knows forgotten people (what to offer instead)."""

    path: Path
    sentence: str
    newest: Path | None


class ModelController:
    """See the module docstring. Each job renders its ``View`` snapshot in the window when it succeeds."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        window.forget_panel.version_chosen.connect(self.open_model)
        window.forget_panel.open_model_requested.connect(self.choose_model)
        window.forget_panel.train_requested.connect(self.train)
        window.identities.enrol_requested.connect(self.enrol)
        window.welcome.get_started.connect(self.get_started)
        window.welcome.open_folder.connect(self.choose_data_folder)
        window.welcome.open_model.connect(self.choose_model)

    # --- opening -----------------------------------------------------------------------------
    def open_model(self, path: str | os.PathLike, accept_forgotten: bool = False) -> Job:
        path, workspace = Path(path), self.window.workspace

        def run(progress):
            try:
                workspace.open_model(path, progress, accept_forgotten)
            except KnowsForgotten as blocked:
                return Blocked(path, str(blocked), blocked.newest.path if blocked.newest else None)
            workspace.score(progress)
            return workspace.view()

        def done(result) -> None:
            if isinstance(result, Blocked):
                self.warn_forgotten(result)
            else:
                self.window.render(result)

        return self.window.run(Job(f"Opening {path.name}", run, done))

    def warn_forgotten(self, blocked: Blocked) -> None:
        """A model that still knows forgotten people opens only after the user says so."""
        box = QMessageBox(
            QMessageBox.Icon.Warning, "This model has not forgotten them", blocked.sentence, parent=self.window
        )
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
        folder, workspace = Path(folder), self.window.workspace

        def run(progress):
            workspace.open_gallery(folder, progress)
            workspace.score(progress)
            return workspace.view()

        def done(view) -> None:
            self.window.render(view)
            if view.skipped:
                name, why = view.skipped[0]
                self.window.show_error(
                    f"{len(view.skipped)} folder(s) were left out for having too few photos (e.g. {name}: {why})."
                )

        return self.window.run(Job(f"Reading people in {folder.name}", run, done))

    def choose_data_folder(self) -> None:
        window = self.window
        folder = QFileDialog.getExistingDirectory(
            window,
            "Folder of people (one sub-folder each)",
            str(window.view.gallery_root or window.settings.last_folder),
        )
        if folder:
            self.open_data(folder)

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open a model", str(data_dir() / "models"), "Forget models (*.ckpt);;All files (*)"
        )
        if path:
            self.open_model(path)

    # --- training and enrolment -----------------------------------------------------------------
    def train(self) -> None:
        window = self.window
        if window.view.gallery_root is None:
            window.show_error("Open a folder of people first: training needs one sub-folder of photos per person.")
            return
        dialog = TrainDialog(str(window.view.gallery_root), window)
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
        workspace = self.window.workspace

        def run(progress):
            workspace.train(backbone, weights, epochs, kind, progress, detector=detector)
            return workspace.view()

        return self.window.run(Job(f"Training {indefinite(kind or 'new')} {backbone} model", run, self.window.render))

    def download_weights(self, item: str, dialog: TrainDialog | None = None) -> Job:
        """Fetch a backbone's pretrained weights; the Train dialog shows the progress."""
        from ..core.common.downloads import ITEMS, download_weights

        def run(progress):
            return str(download_weights(item, progress))

        job = Job(
            f"Downloading the {ITEMS[item].title} weights",
            run,
            lambda _path: dialog and dialog.download_finished(True, "Downloaded."),
            lambda text: dialog.download_finished(False, text) if dialog else self.window.show_error(text),
        )
        if dialog is None:
            return self.window.run(job)
        job = self.window.run(dialog.watch(job))
        dialog.cancel_download = lambda: self.window.worker.cancel(job)
        return job

    def enrol(self) -> None:
        sources = self.window.sources
        dialog = EnrolDialog(sources.is_camera, self.window)
        if not dialog.exec():
            return
        name, folder = dialog.name.text(), dialog.folder.text().strip()
        photos = sorted(p for p in Path(folder).iterdir() if p.is_file()) if folder and Path(folder).is_dir() else []
        self.start_enrol(name, photos, sources.captured_frames(dialog.captures.value()) if not photos else [])

    def start_enrol(self, name: str, photos: list[Path], frames: list) -> Job:
        """Add a person and teach the model in use to know them, as a job."""
        workspace = self.window.workspace

        def run(progress):
            workspace.enrol(name, photos, frames, progress=progress)
            return workspace.view()

        return self.window.run(Job(f"Enrolling {name}", run, self.window.render))

    # --- first run -------------------------------------------------------------------------------
    def get_started(self) -> Job:
        """Download what is missing, train the default model and land on Recognise with a photo open."""
        from ..core.app.first_run import get_started

        window, workspace = self.window, self.window.workspace

        def run(progress):
            photo = get_started(workspace, progress)
            return photo, workspace.view()

        def done(result) -> None:
            photo, view = result
            window.render(view)
            window.sources.open_files([str(photo)])
            window.welcome.finished("Ready.")

        def failed(text: str) -> None:
            window.welcome.finished(f"{text} Press Get started again to go on from where it stopped.")
            window.show_error(text)

        return window.run(window.welcome.watch(Job("Getting started", run, done, failed)))

    def download_demo(self) -> Job | None:
        from ..core.common.downloads import download_lfw_people

        folder = QFileDialog.getExistingDirectory(
            self.window, "Where to put the LFW demo", self.window.settings.last_folder
        )
        if not folder:
            return None
        dest = Path(folder) / "lfw-people"
        return self.window.run(
            Job(
                "Downloading LFW",
                lambda progress: download_lfw_people(dest, progress=progress),
                lambda path: self.open_data(path),
            )
        )

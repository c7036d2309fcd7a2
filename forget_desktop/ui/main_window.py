"""The main window: wires the views to the one ML thread; holds no model and no training math."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QStackedWidget, QTabWidget, QVBoxLayout, QWidget)

from .. import APP_NAME
from ..core.devices import describe_device
from ..core.errors import ForgetError
from ..core.frames import VIDEO_SUFFIXES
from ..core.paths import data_dir
from ..core.workspace import Workspace
from .audit_view import AuditView
from .dialogs import EnrolDialog, TrainDialog, WelcomePage
from .forget_panel import ForgetPanel
from .identities_panel import IdentitiesPanel
from .recognise_view import RecogniseView
from .results_view import ResultsView
from .settings import AppSettings
from .sources import CameraSource, FrameSource, ImageSource, VideoSource, list_cameras
from .worker import Job, MLWorker

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp *.pgm *.ppm *.gif *.tif *.tiff)"
VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES)) + ")"


@dataclass
class Launch:
    """Command-line choices for one start of the window."""

    data: Path | None = None
    model: Path | None = None
    source: str | None = None
    screenshot: Path | None = None
    forget: list[str] = field(default_factory=list)
    method: str | None = None
    tab: str | None = None


class MainWindow(QMainWindow):
    """See the module docstring. ``launch`` says what to open at start."""

    def __init__(self, settings: AppSettings, device: torch.device, launch: Launch | None = None,
                 workspace: Workspace | None = None) -> None:
        super().__init__()
        self.settings, self.device, self.launch = settings, device, launch or Launch()
        self.setWindowTitle("Forget — machine unlearning for face recognition")
        self.workspace = workspace or Workspace(device)
        self.worker = MLWorker(self)
        self.worker.recognised.connect(self._recognised)
        self.worker.frame_failed.connect(lambda _frame, text: self.show_error(text))
        self.worker.job_started.connect(self._job_started)
        self.worker.job_progress.connect(self._job_progress)
        self.worker.job_finished.connect(self._job_finished)
        self.worker.job_failed.connect(self._job_failed)
        self.worker.job_cancelled.connect(self._job_cancelled)
        self.worker.start()
        self.callbacks: dict[int, object] = {}
        self.current_job: Job | None = None
        self.source: FrameSource | None = None
        self.cameras: list[tuple[str, bytes]] = []
        self.chosen: list[str] = []
        self.model = None  # ModelSummary of the model in use
        self._build()
        self._actions()
        geometry, state = settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._default_layout_pending = state is None
        if state is not None:
            self.restoreState(state)
        self.refresh_cameras()
        self._refresh_pages()
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """On a first run, size the docks once the window has its real size."""
        super().showEvent(event)
        if self._default_layout_pending:
            self._default_layout_pending = False
            QTimer.singleShot(0, lambda: self.resizeDocks([self.identities_dock, self.forget_dock], [440, 300],
                                                          Qt.Orientation.Horizontal))

    # --- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.recognise = RecogniseView(0.5)
        self.results = ResultsView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.recognise, "Recognise")
        self.tabs.addTab(self.results, "Results")
        self.audit = AuditView(self.settings.hash_names)
        self.workspace.audit.hash_names = self.settings.hash_names
        self.audit.hash_names_changed.connect(self._hash_names_changed)
        self.audit.export_requested.connect(self._export_audit)
        self.tabs.addTab(self.audit, "Audit")
        self.tabs.currentChanged.connect(lambda _i: self._refresh_audit() if self.tabs.currentWidget() is self.audit
                                         else None)
        self.welcome = WelcomePage()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.tabs)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #fdecea; color: #611a15; padding: 6px; "
                                  "border: 1px solid #f5c6cb; border-radius: 4px; }")
        self.banner.hide()
        self.banner_timer = QTimer(self, singleShot=True, interval=12000, timeout=self.banner.hide)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.identities = IdentitiesPanel()
        self.identities.chosen_changed.connect(self._chosen_changed)
        self.identities.enrol_requested.connect(self.enrol)
        self.identities_dock = QDockWidget("Identities", self)
        self.identities_dock.setObjectName("identities")
        self.identities_dock.setWidget(self.identities)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.identities_dock)
        self.forget_panel = ForgetPanel(describe_device(self.device), self.settings.method)
        self.forget_panel.run_requested.connect(self.run_forget)
        self.forget_panel.cancel_requested.connect(self.cancel_job)
        self.forget_panel.version_chosen.connect(self.open_model)
        self.forget_dock = QDockWidget("Forget", self)
        self.forget_dock.setObjectName("forget")
        self.forget_dock.setWidget(self.forget_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.forget_dock)

        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(220)
        self.job_bar.setRange(0, 1000)
        self.job_bar.hide()
        self.statusBar().addPermanentWidget(self.job_bar)
        self.statusBar().showMessage("Ready")

        self.welcome.open_folder.connect(self.choose_data_folder)
        self.welcome.download_demo.connect(self.download_demo)
        self.welcome.open_model.connect(self.choose_model)
        self.welcome.train_model.connect(self.train)
        view = self.recognise
        view.open_images_requested.connect(self.choose_images)
        view.open_folder_requested.connect(self.choose_image_folder)
        view.open_video_requested.connect(self.choose_video)
        view.camera_requested.connect(self.start_camera)
        view.step_requested.connect(self._step_images)
        view.files_dropped.connect(self.open_files)
        view.threshold_changed.connect(self._threshold_changed)
        self.results.export_png.clicked.connect(lambda: self._export("png"))
        self.results.export_csv.clicked.connect(lambda: self._export("csv"))
        self.results.export_json.clicked.connect(lambda: self._export("json"))
        self.results.erase_photos.clicked.connect(
            lambda: self.results.report and self.erase_photos(self.results.report["forget"]))
        self.results.delete_versions.clicked.connect(
            lambda: self.results.report and self.delete_versions_knowing(self.results.report["forget"]))

    def _actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        entries = (
            (file_menu, "Open folder of &people…", QKeySequence("Ctrl+Shift+O"), self.choose_data_folder),
            (file_menu, "Open &model…", QKeySequence("Ctrl+M"), self.choose_model),
            (file_menu, "Open &images…", QKeySequence.StandardKey.Open, self.choose_images),
            (file_menu, "Open &video…", QKeySequence("Ctrl+Shift+V"), self.choose_video),
            (file_menu, "&Download LFW demo…", None, self.download_demo),
            (file_menu, "&Train a model…", QKeySequence("Ctrl+T"), self.train),
            (file_menu, "E&xport results…", QKeySequence("Ctrl+E"), lambda: self._export("png")),
            (file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close),
        )
        job_menu = self.menuBar().addMenu("&Job")
        entries += (
            (job_menu, "&Forget ticked people", QKeySequence("Ctrl+R"), self.forget_panel._run),
            (job_menu, "&Cancel job", QKeySequence("Esc"), self.cancel_job),
            (job_menu, "Search &identities", QKeySequence.StandardKey.Find, self.identities.search.setFocus),
            (job_menu, "&Next image", QKeySequence("PgDown"), lambda: self._step_images(1)),
            (job_menu, "&Previous image", QKeySequence("PgUp"), lambda: self._step_images(-1)),
        )
        for menu, text, shortcut, slot in entries:
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            menu.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.identities_dock.toggleViewAction())
        view_menu.addAction(self.forget_dock.toggleViewAction())

    def _refresh_pages(self) -> None:
        has_something = self.workspace.checkpoint is not None or self.workspace.gallery is not None
        self.pages.setCurrentWidget(self.tabs if has_something or self.source is not None else self.welcome)

    def _scheme_changed(self, _scheme=None) -> None:
        """Light/dark switched in the system: redraw the charts in the new palette."""
        if self.results.report is not None:
            self.results.show_report(self.results.report)
        self.recognise.refresh_selected()

    # --- messages ----------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """One sentence in the window (never a traceback)."""
        self.banner.setText(text)
        self.banner.show()
        self.banner_timer.start()
        self.statusBar().showMessage(text, 12000)

    # --- jobs --------------------------------------------------------------------------------
    def run_job(self, title: str, fn, on_done=None, kind: str = "job") -> Job:
        job = self.worker.submit(title, fn, kind)
        self.callbacks[job.id] = on_done
        return job

    def cancel_job(self) -> None:
        if self.current_job is not None:
            self.current_job.cancel()
            self.statusBar().showMessage(f"Cancelling {self.current_job.title}…")

    def _job_started(self, job: Job) -> None:
        self.current_job = job
        self.job_bar.setValue(0)
        self.job_bar.show()
        self.statusBar().showMessage(f"Running: {job.title}")
        self.forget_panel.set_busy(True)
        if job.kind == "forget":
            self.forget_panel.show_progress(0.0, job.title, None)
        else:
            self.forget_panel.message.setText(f"Waiting for “{job.title}”")
        self.recognise.show_message(f"Recognition waits while “{job.title}” runs.")

    def _job_progress(self, job: Job) -> None:
        self.job_bar.setValue(round(job.fraction * 1000))
        left = job.seconds_left()
        self.statusBar().showMessage(f"Running: {job.title} — {job.message}"
                                     + (f" (about {left:.0f} s left)" if left else ""))
        if job.kind == "forget":
            self.forget_panel.show_progress(job.fraction, f"{job.title}: {job.message}", left)

    def _job_ended(self, job: Job, text: str) -> None:
        self.current_job = None
        self.job_bar.hide()
        self.forget_panel.set_busy(False)
        if job.kind == "forget":
            self.forget_panel.finish(text)
        else:
            self.forget_panel.message.setText(" ")
        self.statusBar().showMessage(text, 8000)
        if self.worker.is_idle():
            self.recognise.show_message(text)

    def _job_finished(self, job: Job, result) -> None:
        callback = self.callbacks.pop(job.id, None)
        self._job_ended(job, f"Done: {job.title}")
        if callback is not None:
            try:
                callback(result)
            except ForgetError as error:
                self.show_error(str(error))

    def _job_failed(self, job: Job, text: str) -> None:
        self.callbacks.pop(job.id, None)
        self._job_ended(job, f"{job.title} failed")
        self.show_error(text)

    def _job_cancelled(self, job: Job) -> None:
        self.callbacks.pop(job.id, None)
        self._job_ended(job, f"Cancelled: {job.title} (nothing was changed)")

    # --- models and data ---------------------------------------------------------------------
    def open_model(self, path: str | os.PathLike) -> None:
        path = Path(path)

        def load(progress, worker):
            self.workspace.open_model(path, progress)
            worker.recognise_fn = self.workspace.recognise
            self.workspace.score(progress)
            return self.workspace.summary()

        def done(summary) -> None:
            self.settings.model_path = path
            self._model_changed(summary)

        self.run_job(f"Opening {path.name}", load, done)

    def open_data(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)

        def load(progress, _worker):
            gallery = self.workspace.open_gallery(folder, progress)
            self.workspace.score(progress)
            return gallery

        def done(gallery) -> None:
            self.settings.data_dir = folder
            self._show_identities()
            if gallery.split.skipped:
                self.show_error(f"{len(gallery.split.skipped)} folders were left out for having too few photos "
                                f"(e.g. {next(iter(gallery.split.skipped))}).")
            self._refresh_pages()

        self.run_job(f"Reading people in {folder.name}", load, done)

    def _model_changed(self, summary=None) -> None:
        if summary is not None:
            self.model = summary
            self.setWindowTitle(f"Forget — {summary.path.name if summary.path else 'model'} ({summary.people} people)")
            saved = self.settings.threshold_for(summary.path) if summary.path else None
            self.recognise.set_model_threshold(summary.calibrated, summary.threshold if saved is None else saved,
                                               summary.threshold if summary.calibrated else None)
            self.forget_panel.set_kind(summary.kind)
        self._show_identities()
        self.forget_panel.set_versions(self.workspace.versions(),
                                       str(self.workspace.checkpoint.path) if self.workspace.checkpoint else "")
        self._refresh_pages()
        self._reshow_current_frame()

    def _show_identities(self) -> None:
        problems = len(self.workspace.gallery.problems) if self.workspace.gallery else 0
        self.identities.set_rows(self.workspace.identity_rows(), problems)
        if self.workspace.gallery is not None and self.workspace.checkpoint is not None \
                and not self.workspace.model_matches_gallery():
            self.identities.summary.setText(self.identities.summary.text() + ". This model was trained on other "
                                            "people: train a model on this folder to forget anyone.")

    def _chosen_changed(self, names: list[str]) -> None:
        self.chosen = names
        self.forget_panel.set_chosen(names)

    def run_forget(self, method: str | None, options: dict, reference: bool, names: list[str] | None = None) -> Job:
        names = list(self.chosen if names is None else names)
        if method:
            self.settings.method = method

        def job(progress, _worker):
            return self.workspace.forget(names, method, options, reference, progress)

        def done(report) -> None:
            self.results.show_report(report)
            self.identities.clear_choice()
            self.tabs.setCurrentWidget(self.results)
            self._model_changed(self.workspace.summary())
            self._refresh_audit()
            self.forget_panel.finish(f"Forgot {', '.join(report['forget'])} in {report['seconds']:.1f} s")

        return self.run_job(f"Forgetting {', '.join(n.replace('_', ' ') for n in names)}", job, done,
                            kind="forget")

    def train(self) -> None:
        if self.workspace.gallery_root is None:
            self.show_error("Open a folder of people first: training needs one sub-folder of photos per person.")
            return
        dialog = TrainDialog(str(self.workspace.gallery_root), self)
        if dialog.exec():
            self.start_training(*dialog.choice())

    def start_training(self, backbone: str, weights: str | None, epochs: int | None, kind: str | None = None) -> Job:
        """Train a model on the open folder of people as a job; it becomes the current model."""

        def job(progress, worker):
            self.workspace.train(backbone, weights, epochs, kind, progress)
            worker.recognise_fn = self.workspace.recognise
            return self.workspace.summary()

        def done(summary) -> None:
            self.settings.model_path = summary.path
            self._model_changed(summary)

        return self.run_job(f"Training {backbone}", job, done)

    def enrol(self) -> None:
        dialog = EnrolDialog(isinstance(self.source, CameraSource), self)
        if not dialog.exec():
            return
        name, folder = dialog.name.text(), dialog.folder.text().strip()
        photos = sorted(p for p in Path(folder).iterdir() if p.is_file()) if folder and Path(folder).is_dir() else []
        self.start_enrol(name, photos, self.captured_frames(dialog.captures.value()) if not photos else [])

    def start_enrol(self, name: str, photos: list[Path], frames: list) -> Job:
        """Add a person and fine-tune the current model as a job."""

        def job(progress, _worker):
            return self.workspace.enrol(name, photos, frames, progress=progress)

        def done(_path) -> None:
            self._model_changed(self.workspace.summary())

        return self.run_job(f"Enrolling {name}", job, done)

    def captured_frames(self, count: int) -> list:
        """The last ``count`` camera frames seen (taken while the camera runs)."""
        return [frame.rgb for frame in getattr(self, "_recent_frames", [])[-count:]]

    def download_demo(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Where to put the LFW demo", self.settings.last_folder)
        if not folder:
            return
        dest = Path(folder) / "lfw-people"

        def job(progress, _worker):
            from ..core.downloads import download_lfw_people
            return download_lfw_people(dest, progress=progress)

        self.run_job("Downloading LFW", job, lambda path: self.open_data(path))

    def erase_photos(self, names: list[str], confirm: bool = True) -> Job | None:
        """Delete the forgotten people's source photos, after an explicit yes."""
        if confirm:
            answer = QMessageBox.question(
                self, "Delete photos", f"Permanently delete the photos of {', '.join(n.replace('_', ' ') for n in names)} "
                "from the folder of people? This cannot be undone.")
            if answer != QMessageBox.StandardButton.Yes:
                return None

        def job(_progress, _worker):
            return self.workspace.erase_photos(names)

        def done(summary) -> None:
            self.statusBar().showMessage(f"Deleted {summary['photos']} photos.", 8000)
            self._show_identities()
            self._refresh_audit()

        return self.run_job("Deleting photos", job, done)

    def delete_versions_knowing(self, names: list[str], confirm: bool = True) -> Job | None:
        """Offer to delete the model versions that still recognise these people."""
        candidates = [v for v in self.workspace.versions_knowing(names)
                      if not self.workspace.checkpoint or v.path != self.workspace.checkpoint.path]
        if not candidates:
            self.statusBar().showMessage("No other model version still knows them.", 8000)
            return None
        listing = "\n".join(f"• {v.title} ({v.path.name})" for v in candidates)
        if confirm and QMessageBox.question(self, "Models that still know them",
                                            f"These versions still recognise them:\n{listing}\n\nDelete them?"
                                            ) != QMessageBox.StandardButton.Yes:
            return None

        def job(_progress, _worker):
            for version in candidates:
                self.workspace.delete_version(version)
            return len(candidates)

        return self.run_job("Deleting model versions", job, lambda _n: (self._model_changed(), self._refresh_audit()))

    def _refresh_audit(self) -> None:
        entries, problems = self.workspace.audit.entries()
        self.audit.show_entries(entries, problems)

    def _threshold_changed(self, value: float) -> None:
        model = getattr(self, "model", None)
        if model is not None and model.path is not None:
            self.settings.set_threshold(model.path, value)

    def _hash_names_changed(self, value: bool) -> None:
        self.settings.hash_names = value
        self.workspace.audit.hash_names = value

    def _export_audit(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export audit log",
                                              str(Path(self.settings.last_folder) / "forget-audit.jsonl"),
                                              "JSON lines (*.jsonl)")
        if path:
            try:
                self.workspace.audit.export(path)
            except (OSError, ForgetError) as error:
                self.show_error(str(error) if isinstance(error, ForgetError) else f"Could not save {path}.")

    # --- sources -----------------------------------------------------------------------------
    def refresh_cameras(self) -> None:
        try:
            self.cameras = list_cameras()
        except Exception:  # noqa: BLE001 - QtMultimedia missing or broken: no cameras, not a crash
            self.cameras = []
        self.recognise.set_cameras([name for name, _ in self.cameras], self.settings.camera)

    def set_source(self, source: FrameSource) -> None:
        if self.source is not None:
            self.source.stop()
            self.source.deleteLater()
        self.source = source
        source.frame.connect(self._frame_arrived)
        source.failed.connect(self.show_error)
        self.recognise.set_stepping(isinstance(source, ImageSource) and len(source) > 1)
        self._refresh_pages()
        self.tabs.setCurrentWidget(self.recognise)
        source.start()

    def _frame_arrived(self, frame) -> None:
        self._last_frame = frame
        if isinstance(self.source, CameraSource):
            self._recent_frames = (getattr(self, "_recent_frames", []) + [frame])[-100:]
        self.worker.offer_frame(frame)

    def _reshow_current_frame(self) -> None:
        frame = getattr(self, "_last_frame", None)
        if frame is not None and not isinstance(self.source, (VideoSource, CameraSource)):
            self.worker.offer_frame(frame)

    def _recognised(self, frame, faces) -> None:
        self.recognise.show_result(frame, faces)
        if self.workspace.recogniser is None:
            self.recognise.show_message(f"{frame.label}: open or train a model to name faces.")

    def _step_images(self, delta: int) -> None:
        if isinstance(self.source, ImageSource):
            self.source.step(delta)

    def open_files(self, paths: list[str]) -> None:
        """Images, a folder of images or a video, from a dialog, a drop or the command line."""
        try:
            if len(paths) == 1 and Path(paths[0]).suffix.lower() in VIDEO_SUFFIXES:
                self.set_source(VideoSource(paths[0]))
            else:
                self.set_source(ImageSource(paths))
            self.settings.last_folder = str(Path(paths[0]).parent)
        except ForgetError as error:
            self.show_error(str(error))

    def start_camera(self, index: int) -> None:
        if not self.cameras:
            self.show_error("No camera was found; open a video or image files instead.")
            return
        name, camera_id = self.cameras[max(0, min(index, len(self.cameras) - 1))]
        try:
            self.set_source(CameraSource(camera_id))
            self.settings.camera = name
        except ForgetError as error:
            self.show_error(str(error))

    def open_source_argument(self, text: str) -> None:
        """``--source camera|camera:N|VIDEO|IMAGE_DIR|IMAGE``."""
        if text == "camera" or text.startswith("camera:"):
            index = int(text.split(":", 1)[1]) if ":" in text and text.split(":", 1)[1].isdigit() else 0
            self.start_camera(index)
        else:
            self.open_files([text])

    # --- file dialogs --------------------------------------------------------------------------
    def choose_data_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of people (one sub-folder each)",
                                                  str(self.settings.data_dir or self.settings.last_folder))
        if folder:
            self.open_data(folder)

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", str(data_dir() / "models"),
                                              "Forget models (*.ckpt);;All files (*)")
        if path:
            self.open_model(path)

    def choose_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", self.settings.last_folder, IMAGE_FILTER)
        if paths:
            self.open_files(paths)

    def choose_image_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.last_folder)
        if folder:
            self.open_files([folder])

    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a video", self.settings.last_folder, VIDEO_FILTER)
        if path:
            self.open_files([path])

    def _export(self, kind: str) -> None:
        if self.results.report is None:
            self.show_error("Run a forget job first; there are no results to export yet.")
            return
        filters = {"png": "PNG image (*.png)", "csv": "CSV (*.csv)", "json": "JSON (*.json)"}
        path, _ = QFileDialog.getSaveFileName(self, "Export", str(Path(self.settings.last_folder) / f"forget-results.{kind}"),
                                              filters[kind])
        if path:
            try:
                getattr(self.results, f"save_{kind}")(path)
                self.statusBar().showMessage(f"Saved {path}", 8000)
            except (OSError, ForgetError) as error:
                self.show_error(str(error) if isinstance(error, ForgetError) else f"Could not save {path}: "
                                f"{error.strerror}.")

    # --- shutdown ------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if self.current_job is not None and self.current_job.kind in ("forget", "job"):
            answer = QMessageBox.question(self, APP_NAME, f"“{self.current_job.title}” is still running. Cancel it "
                                          "and quit? Nothing half-done is kept.")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.settings.set_window_state(self.saveGeometry(), self.saveState())
        if self.source is not None:
            self.source.stop()
        self.worker.stop()
        super().closeEvent(event)

"""The main window: wires the views to the one ML thread; holds no model and no training math.

Everything it shows about models and people comes from ``View`` snapshots that jobs return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .. import APP_NAME
from ..core.app.session import View
from ..core.app.workspace import Workspace
from ..core.common.devices import describe_device
from ..core.common.errors import ForgetError
from ..core.common.jobs import duration, left_note
from ..core.common.runtime import get_ready, heap_settled
from ..core.faces.frames import VIDEO_SUFFIXES
from .audit_view import AuditView
from .forget_controller import ForgetController
from .forget_panel import ForgetPanel
from .history_view import HistoryView
from .identities_panel import IdentitiesPanel
from .model_controller import ModelController
from .recognise_view import RecogniseView
from .records_controller import RecordsController
from .results_view import ResultsView
from .settings import AppSettings
from .source_controller import SourceController
from .vertical_scroll import VerticalScroll
from .welcome import WelcomePage
from .worker import Job, JobStatus, MLWorker

if TYPE_CHECKING:
    import torch

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp *.pgm *.ppm *.gif *.tif *.tiff)"
VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES)) + ")"
MIN_WIDTH, MIN_HEIGHT = 1024, 640  # fits a 1280×720 screen with room for a taskbar
CENTRAL_MIN_WIDTH = 410  # the tabs keep this much beside both docks; the docks give way when the window shrinks


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

    def __init__(
        self,
        settings: AppSettings,
        device: torch.device,
        launch: Launch | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        super().__init__()
        self.settings, self.device, self.launch = settings, device, launch or Launch()
        self.setWindowTitle("Forget — machine unlearning for face recognition")
        self.setMinimumSize(MIN_WIDTH, MIN_HEIGHT)
        self.workspace = workspace or Workspace(device)
        records = self.workspace.records
        if settings.hash_names and not records.hash_names:  # the records keep the choice for every entry point
            records.hash_names = True
        settings.hash_names = records.hash_names
        self.view = View()  # the latest snapshot of what is open
        self.worker = MLWorker(self.workspace.recognise, self)
        self.worker.frame_failed.connect(lambda _frame, text: self.show_error(text))
        self.worker.job_started.connect(self._job_started)
        self.worker.job_progress.connect(self._job_progress)
        self.worker.job_finished.connect(self._job_finished)
        self.worker.job_failed.connect(self._job_failed)
        self.worker.job_cancelled.connect(self._job_cancelled)
        self.worker.start()
        if not heap_settled():  # before anything else the ML thread does: see ``settle_heap`` and ``probe_if_new``
            self.run(Job("Getting ready", lambda _progress: get_ready(), self._ready, quiet=True))
        self._docks_shown = False  # shown once something is open; after that the user decides
        self._left_out_shown = ""
        self._build()
        self.sources = SourceController(self.worker, self.recognise, settings, self)
        self.sources.failed.connect(self.show_error)
        self.sources.changed.connect(self._source_changed)
        self.models = ModelController(self)  # opening, training, enrolling, the first run
        self.forgetting = ForgetController(self)  # forgetting people and photos
        self.records = RecordsController(self)  # the history, certificates, erasure and the audit log
        self._actions()
        geometry, state = settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:  # first start: most of the screen (up to 1440×900), never below the minimum
            screen = QGuiApplication.primaryScreen().availableGeometry()
            self.resize(
                max(MIN_WIDTH, min(1440, int(screen.width() * 0.92))),
                max(MIN_HEIGHT, min(900, int(screen.height() * 0.92))),
            )
        self._default_layout_pending = state is None
        if state is not None:
            self.restoreState(state)
        self.sources.refresh_cameras()
        self._refresh_pages()
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)
        if records.recovery_problem:
            self.show_error(records.recovery_problem)
        self.records.read_audit(at_launch=True)
        self.records.refresh_history(show_last=True)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """On a first run, size the docks once the window has its real size."""
        super().showEvent(event)
        if self._default_layout_pending:
            self._default_layout_pending = False
            QTimer.singleShot(0, self._default_layout)

    def _default_layout(self) -> None:
        left = max(300, min(440, self.width() // 4))
        self.resizeDocks(
            [self.identities_dock, self.forget_dock], [left, max(260, self.width() // 5)], Qt.Orientation.Horizontal
        )

    # --- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.recognise = RecogniseView(0.5)
        self.results = ResultsView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.recognise, "Recognise")
        self.tabs.addTab(self.results, "Results")
        self.history = HistoryView()
        self.tabs.addTab(self.history, "Forget history")
        self.audit = AuditView(self.settings.hash_names)
        self.tabs.addTab(self.audit, "Audit")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.welcome = WelcomePage()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.tabs)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "QLabel { background: #fdecea; color: #611a15; padding: 6px; "
            "border: 1px solid #f5c6cb; border-radius: 4px; }"
        )
        self.banner.hide()
        self.banner_timer = QTimer(self, singleShot=True, interval=12000, timeout=self.banner.hide)
        central = QWidget()
        central.setMinimumWidth(CENTRAL_MIN_WIDTH)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.identities = IdentitiesPanel()
        self.identities_dock = QDockWidget("Identities", self)
        self.identities_dock.setObjectName("identities")
        self.identities_dock.setWidget(self.identities)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.identities_dock)
        self.forget_panel = ForgetPanel(describe_device(self.device), self.settings.method)
        self.forget_panel.cancel_requested.connect(self.cancel_job)
        self.forget_panel.method_chosen.connect(lambda method: setattr(self.settings, "method", method))
        self.forget_dock = QDockWidget("Forget", self)
        self.forget_dock.setObjectName("forget")
        self.forget_dock.setWidget(VerticalScroll(self.forget_panel))  # a long method's options: not squeezed flat
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.forget_dock)

        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(220)
        self.job_bar.setRange(0, 1000)
        self.job_bar.hide()
        self.statusBar().addPermanentWidget(self.job_bar)
        self.statusBar().showMessage("Ready")

        self.welcome.cancel_requested.connect(self.cancel_job)
        view = self.recognise
        view.open_images_requested.connect(self.choose_images)
        view.open_folder_requested.connect(self.choose_image_folder)
        view.open_video_requested.connect(self.choose_video)
        view.threshold_changed.connect(self._threshold_changed)
        self.results.export_png.clicked.connect(lambda: self._export("png"))
        self.results.export_csv.clicked.connect(lambda: self._export("csv"))
        self.results.export_json.clicked.connect(lambda: self._export("json"))

    def _actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        entries = (
            (file_menu, "Open folder of &people…", QKeySequence("Ctrl+Shift+O"), self.models.choose_data_folder),
            (file_menu, "Open &model…", QKeySequence("Ctrl+M"), self.models.choose_model),
            (file_menu, "Open &images…", QKeySequence.StandardKey.Open, self.choose_images),
            (file_menu, "Open &video…", QKeySequence("Ctrl+Shift+V"), self.choose_video),
            (file_menu, "&Download LFW demo…", None, self.models.download_demo),
            (file_menu, "&Train a model…", QKeySequence("Ctrl+T"), self.models.train),
            (file_menu, "E&xport results…", QKeySequence("Ctrl+E"), lambda: self._export("png")),
            (file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close),
        )
        job_menu = self.menuBar().addMenu("&Job")
        entries += (
            (job_menu, "&Forget ticked people", QKeySequence("Ctrl+R"), self.forget_panel.request_run),
            (job_menu, "&Cancel job", QKeySequence("Esc"), self.cancel_job),
            (job_menu, "Search &identities", QKeySequence.StandardKey.Find, self.identities.search.setFocus),
            (job_menu, "&Next image", QKeySequence("PgDown"), lambda: self.sources.step(1)),
            (job_menu, "&Previous image", QKeySequence("PgUp"), lambda: self.sources.step(-1)),
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
        """The welcome page until something is open (its docks hidden: they have nothing to show yet)."""
        has_something = self.view.model is not None or self.view.gallery_root is not None
        welcome = not (has_something or self.sources.source is not None) or self.welcome.running
        self.pages.setCurrentWidget(self.welcome if welcome else self.tabs)
        if welcome:
            self.identities_dock.hide()
            self.forget_dock.hide()
        elif not self._docks_shown:
            self._docks_shown = True
            self.identities_dock.show()
            self.forget_dock.show()

    def _scheme_changed(self, _scheme=None) -> None:
        """Light/dark switched in the system: redraw the charts in the new palette."""
        if self.results.report is not None:
            self.results.show_report(self.results.report, self.results.model_name, self.results.model_sha256)
        self.recognise.refresh_selected()

    # --- rendering snapshots -------------------------------------------------------------------
    def render(self, view: View) -> None:
        """Show a snapshot of what is open (returned by a job)."""
        model_changed = view.model != self.view.model
        self.view = view
        summary = view.model
        if summary is not None and model_changed:
            self.setWindowTitle(f"Forget — {summary.path.name if summary.path else 'model'} ({summary.people} people)")
            saved = self.settings.threshold_for(summary.path) if summary.path else None
            self.recognise.set_model_threshold(
                summary.calibrated,
                summary.threshold if saved is None else saved,
                summary.threshold if summary.calibrated else None,
            )
            self.forget_panel.set_kind(summary.kind)
            if summary.forgotten:
                self.show_error(
                    f"{summary.path.name if summary.path else 'This model'} still recognises "
                    f"{', '.join(n.replace('_', ' ') for n in summary.forgotten)}, whom the records say were "
                    "forgotten: they are named Unknown here. Choose a version without them in Model versions."
                )
        self.forget_panel.set_model_open(summary is not None)
        self.identities.set_rows(list(view.rows), list(view.problems))
        if view.gallery_root is not None and summary is not None and not view.matches:
            self.identities.summary.setText(
                self.identities.summary.text() + ". This model was trained on other "
                "people: train a model on this folder to forget anyone."
            )
        self.forget_panel.set_versions(list(view.versions), str(summary.path) if summary and summary.path else "")
        self.results.set_model_in_use(summary.sha256 if summary else None)
        if view.left_out and view.left_out != self._left_out_shown:
            self._left_out_shown = view.left_out
            self.show_error(view.left_out)
        self._refresh_pages()
        if model_changed:
            self.sources.reshow()

    # --- messages ----------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """One sentence in the window (never a traceback)."""
        self.banner.setText(text)
        self.banner.show()
        self.banner_timer.start()
        self.statusBar().showMessage(text, 12000)

    # --- jobs --------------------------------------------------------------------------------
    def run(self, job: Job) -> Job:
        return self.worker.submit(job)

    def cancel_job(self) -> None:
        title = self.worker.current_title
        if title is not None:
            self.worker.cancel()
            self.statusBar().showMessage(f"Cancelling {title}…")

    def _set_busy(self, busy: bool) -> None:
        self.forget_panel.set_busy(busy)
        self.identities.photos.set_busy(busy)
        self.identities.outliers.set_busy(busy)

    # What every job shows (status line, bar, busy buttons); then the job's own handlers, given by the
    # panel that made it, show the rest.
    def _job_started(self, job: Job, status: JobStatus) -> None:
        if job.quiet:
            return
        self.banner.hide()  # an earlier failure's sentence is stale once the user tries again
        self.job_bar.setValue(0)
        self.job_bar.show()
        self.statusBar().showMessage(f"Running: {job.title}")
        self._set_busy(True)
        self.forget_panel.message.setText(f"Waiting for “{job.title}”")
        self.recognise.show_waiting(job.title)
        if job.on_progress is not None:
            job.on_progress(status)
        self._refresh_pages()

    def _job_progress(self, job: Job, status: JobStatus) -> None:
        if job.quiet:
            return
        self.job_bar.setValue(round(status.fraction * 1000))
        self.statusBar().showMessage(f"Running: {job.title} — {status.message}{left_note(status.seconds_left)}")
        if job.on_progress is not None:
            job.on_progress(status)

    def _job_ended(self, job: Job, text: str) -> None:
        if not job.quiet:
            self.job_bar.hide()
            self.forget_panel.message.setText(" ")
            self.statusBar().showMessage(text, 8000)
        self._set_busy(self.worker.busy)
        if not self.worker.busy:
            self.recognise.show_waiting(None)
        if job.on_end is not None:
            job.on_end(text)

    def _job_finished(self, job: Job, status: JobStatus, result) -> None:
        finished = job.finished_text(result, status.seconds) if job.finished_text else None
        self._job_ended(job, finished or f"Done: {job.title} ({duration(status.seconds)})")
        if job.on_success is not None:
            try:
                job.on_success(result)
            except ForgetError as error:
                self.show_error(str(error))
        self._refresh_pages()

    def _job_failed(self, job: Job, _status: JobStatus, text: str) -> None:
        self._job_ended(job, f"{job.title} failed")
        if job.on_failure is not None:
            job.on_failure(text)
        else:
            self.show_error(text)
        self._refresh_pages()

    def _job_cancelled(self, job: Job, _status: JobStatus) -> None:
        self._job_ended(job, f"Cancelled: {job.title} (nothing was changed)")
        if job.on_cancel is not None:
            job.on_cancel()
        self._refresh_pages()

    # --- settings the window keeps ----------------------------------------------------------------
    def _tab_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.audit:
            self.records.read_audit()

    def _threshold_changed(self, value: float) -> None:
        if self.view.model is not None and self.view.model.path is not None:
            self.settings.set_threshold(self.view.model.path, value)

    def _ready(self, probed: float | None) -> None:
        """The launch job ended: where it measured how fast this machine is, Get started's promise says so."""
        if probed is not None and not self.welcome.running:
            self.welcome.update_promise()

    # --- sources -----------------------------------------------------------------------------
    def _source_changed(self, _source) -> None:
        self._refresh_pages()
        self.tabs.setCurrentWidget(self.recognise)

    # --- file dialogs --------------------------------------------------------------------------
    def choose_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", self.settings.last_folder, IMAGE_FILTER)
        if paths:
            self.sources.open_files(paths)

    def choose_image_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.last_folder)
        if folder:
            self.sources.open_files([folder])

    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a video", self.settings.last_folder, VIDEO_FILTER)
        if path:
            self.sources.open_files([path])

    def _export(self, kind: str) -> None:
        if self.results.report is None:
            self.show_error("Run a forget job first; there are no results to export yet.")
            return
        filters = {"png": "PNG image (*.png)", "csv": "CSV (*.csv)", "json": "JSON (*.json)"}
        path, _ = QFileDialog.getSaveFileName(
            self, "Export", str(Path(self.settings.last_folder) / f"forget-results.{kind}"), filters[kind]
        )
        if path:
            try:
                getattr(self.results, f"save_{kind}")(path)
                self.statusBar().showMessage(f"Saved {path}", 8000)
            except (OSError, ForgetError) as error:
                self.show_error(
                    str(error) if isinstance(error, ForgetError) else f"Could not save {path}: {error.strerror}."
                )

    # --- shutdown ------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        title = self.worker.current_title
        if title is not None:
            answer = QMessageBox.question(
                self, APP_NAME, f"“{title}” is still running. Cancel it and quit? Nothing half-done is kept."
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.settings.set_window_state(self.saveGeometry(), self.saveState())
        self.sources.stop()
        self.worker.stop()  # cancels the running job and drops the queued ones
        super().closeEvent(event)

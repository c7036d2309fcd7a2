"""The first-run page: one button from a fresh machine to a model recognising faces, and the other ways in."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..core.app.first_run import first_run_seconds
from ..core.common.downloads import ITEMS
from ..core.common.jobs import duration
from .worker import Job, JobStatus, with_handlers


class WelcomePage(QWidget):
    """Shown until something is open. *Get started* runs the first-run job; its progress shows here."""

    get_started = Signal()
    cancel_requested = Signal()
    open_folder = Signal()
    open_model = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.running = False  # the first run is under way (the page stays up until it ends)
        title = QLabel(
            "<h1>Forget</h1><p>Recognise faces, choose people who asked to be forgotten, and get a "
            "model that no longer knows them — with the evidence.</p>"
        )
        title.setWordWrap(True)
        self.start_button = QPushButton("Get started")
        self.start_button.setMinimumHeight(44)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.get_started)
        self.start_note = start_note = QLabel()
        self.update_promise()
        start_note.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.hide()
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        grid = QGridLayout()
        grid.addWidget(self.start_button, 0, 0)
        grid.addWidget(start_note, 0, 1)
        others = (
            (
                "Open a folder of people…",
                self.open_folder,
                "One sub-folder per person with at least 5 photos each (the LFW layout). Faces are found once "
                "and cached; then train a model on them (File → Train a model).",
            ),
            ("Open a model…", self.open_model, "A model trained with train/train_face.py or by this app (.ckpt)."),
        )
        for row, (text, signal, help_text) in enumerate(others, start=1):
            button = QPushButton(text)
            button.setMinimumHeight(36)
            button.clicked.connect(signal)
            note = QLabel(help_text)
            note.setWordWrap(True)
            grid.addWidget(button, row, 0)
            grid.addWidget(note, row, 1)
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(14)
        grid.setHorizontalSpacing(16)
        column = QWidget()
        column.setMaximumWidth(900)
        content = QVBoxLayout(column)
        content.addWidget(title)
        content.addLayout(grid)
        content.addSpacing(8)
        content.addLayout(progress_row)
        content.addWidget(self.message)
        centred = QHBoxLayout()
        centred.addStretch(1)
        centred.addWidget(column, 4)
        centred.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(centred)
        layout.addStretch(2)
        layout.setContentsMargins(24, 24, 24, 24)

    def update_promise(self) -> None:
        """Say how long Get started will take on this computer, from its measured rates as they are now (the
        app measures how fast it is at launch: ``core.common.probe``)."""
        weights, lfw = ITEMS["mobilefacenet"], ITEMS["lfw"]
        self.start_note.setText(
            f"Downloads what is missing — the MobileFaceNet face-embedding weights ({weights.size_text}) and the LFW "
            f"demo: 62 public figures, 3,023 photos ({lfw.size_text}) — finds the faces, trains a model and opens a "
            f"photo. About {duration(first_run_seconds())} on this computer; you can cancel at any point and go on "
            "later. "
            f"<br><small>{weights.terms} {lfw.terms}</small>"
        )

    def show_progress(self, fraction: float, message: str, seconds_left: float | None) -> None:
        self.start_button.setEnabled(False)
        self.progress.show()
        self.cancel_button.show()
        self.progress.setValue(round(fraction * 1000))
        self.progress.setFormat(
            f"{fraction:.0%}" + ("" if seconds_left is None else f" · about {duration(seconds_left)} left")
        )
        self.message.setText(message)

    def watch(self, job: Job) -> Job:
        """``job`` (the first run) shown here as it runs; cancelled, it says how to go on."""

        def progressed(status: JobStatus) -> None:
            self.running = True
            self.show_progress(status.fraction, status.message or status.title, status.seconds_left)

        def cancelled() -> None:
            self.finished("Cancelled. Press Get started to go on from where it stopped.")

        return with_handlers(job, on_progress=progressed, on_cancel=cancelled)

    def finished(self, text: str) -> None:
        """The job ended (done, failed or cancelled): say so, and offer the button again."""
        self.running = False
        self.start_button.setEnabled(True)
        self.progress.hide()
        self.cancel_button.hide()
        self.message.setText(text)

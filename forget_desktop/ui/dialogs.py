"""Small dialogs: train a model, enrol a person."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
)

from ..core.common.downloads import ITEMS, weights_destination
from ..core.faces.detector import DETECTOR_TEXT, DETECTORS
from ..core.model.backbones import FACE_BACKBONES, get_backbone
from .worker import Job, with_handlers


def path_row(edit: QLineEdit, browse) -> QHBoxLayout:
    """A path field with a Browse… button beside it."""
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row


KIND_TEXT = {
    "embedding": "Embedding — frozen pretrained backbone; forgetting is exact and takes a second",
    "finetuned": "Fine-tuned — the backbone learns too; forgetting is approximate (or a slow retrain)",
}


class TrainDialog(QDialog):
    """Backbone, model kind, weights, epochs and face detector for training a classifier on the open folder
    of people.
    A missing weights file gets a Download button; ``watch(job)`` shows that download's progress."""

    download_requested = Signal(str)  # the download item's name

    def __init__(self, folder: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.backbone = QComboBox()
        for name in FACE_BACKBONES:
            self.backbone.addItem(f"{name} — {get_backbone(name).description}", name)
        self.kind = QComboBox()
        self.weights = QLineEdit()
        self.weights.textChanged.connect(self._weights_changed)
        self.download = QPushButton()
        self.download.clicked.connect(
            lambda: self.download_requested.emit(get_backbone(self.backbone.currentData()).weights)
        )
        weights_row = path_row(self.weights, self._browse)
        weights_row.addWidget(self.download)
        self.weights_status = QLabel()
        self.weights_status.setWordWrap(True)
        self.download_bar = QProgressBar()
        self.download_bar.setRange(0, 1000)
        self._downloading = False  # a download runs (closing the dialog cancels it)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.detector = QComboBox()
        for name in DETECTORS:
            self.detector.addItem(DETECTOR_TEXT[name], name)
        self.detector.setToolTip("Finds the faces in the photos; the model remembers it and uses it to recognise")
        self.backbone.currentIndexChanged.connect(self._backbone_changed)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        form = QFormLayout(self)
        form.addRow(QLabel(f"Train on the people in <b>{folder}</b>."))
        form.addRow("Backbone", self.backbone)
        form.addRow("Model kind", self.kind)
        form.addRow("Pretrained weights", weights_row)
        form.addRow("", self.weights_status)
        form.addRow("", self.download_bar)
        form.addRow("Epochs", self.epochs)
        form.addRow("Face detector", self.detector)
        self.form = form
        form.setRowVisible(self.download_bar, False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Train")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.setMinimumWidth(780)
        self._backbone_changed()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Pretrained weights", self.weights.text(), "Weights (*.pt *.pth)")
        if path:
            self.weights.setText(path)

    def _backbone_changed(self) -> None:
        info = get_backbone(self.backbone.currentData())
        self.kind.blockSignals(True)
        self.kind.clear()
        for kind in info.kinds:
            self.kind.addItem(KIND_TEXT[kind], kind)
        self.kind.blockSignals(False)
        self.epochs.setValue(info.recipe.epochs)
        self.weights.setText(str(weights_destination(ITEMS[info.weights])) if info.pretrained else "")
        self.weights.setEnabled(info.pretrained)
        self._kind_changed()
        self._weights_changed()

    def _kind_changed(self) -> None:
        self.epochs.setEnabled(self.kind.currentData() == "finetuned")

    def _weights_changed(self) -> None:
        """Say whether the weights file is there; offer to download it where it is not."""
        info = get_backbone(self.backbone.currentData())
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok) if hasattr(self, "buttons") else None
        if not info.pretrained:
            self.weights_status.setText("Trained from scratch: no weights needed (slow without a GPU).")
            self.download.hide()
            missing = False
        else:
            item = ITEMS[info.weights]
            missing = not Path(self.weights.text().strip()).expanduser().is_file()
            self.download.setText(f"Download ({item.size_text})")
            self.download.setVisible(missing and Path(self.weights.text()) == weights_destination(item))
            self.weights_status.setText(
                ("<b>Not on this computer yet.</b> " if missing else "Found. ") + f"<small>{item.terms}</small>"
            )
        if ok is not None:
            ok.setEnabled(not missing)

    def watch(self, job: Job) -> Job:
        """``job`` (a download) shown here as it runs; set ``cancel_download`` once it is submitted."""
        self.download.setEnabled(False)
        self.form.setRowVisible(self.download_bar, True)
        self.cancel_download = lambda: None
        self._downloading = True
        return with_handlers(job, on_progress=lambda status: self.download_bar.setValue(round(status.fraction * 1000)))

    def download_finished(self, ok: bool, text: str) -> None:
        self.form.setRowVisible(self.download_bar, False)
        self._downloading = False
        self.download.setEnabled(True)
        self._weights_changed()
        if not ok:
            self.weights_status.setText(f"<span style='color:#c0392b'>{text}</span>")

    def reject(self) -> None:
        if self._downloading:
            self.cancel_download()  # closing the dialog cancels its download
        super().reject()

    def choice(self) -> tuple[str, str | None, int | None, str, str]:
        """(backbone, weights file or None, epochs or None, kind, face detector)."""
        info = get_backbone(self.backbone.currentData())
        kind = self.kind.currentData()
        weights = (self.weights.text().strip() or None) if info.pretrained else None
        epochs = self.epochs.value() if kind == "finetuned" else None
        return info.name, weights, epochs, kind, self.detector.currentData()


class EnrolDialog(QDialog):
    """A new person's name and where their photos come from (a folder, or camera captures)."""

    def __init__(self, can_capture: bool, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Enrol a person")
        self.name = QLineEdit()
        self.name.setPlaceholderText("First_Last")
        self.folder = QLineEdit()
        row = path_row(self.folder, self._browse)
        self.captures = QSpinBox()
        self.captures.setRange(5, 100)
        self.captures.setValue(10)
        self.captures.setEnabled(can_capture)
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Photos from a folder", row)
        form.addRow("…or camera captures", self.captures)
        form.addRow(QLabel("At least 5 photos with one clear face each. The model is then fine-tuned."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder with the person's photos")
        if path:
            self.folder.setText(path)

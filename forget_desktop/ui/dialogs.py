"""Small dialogs: train a model, enrol a person, and the first-run welcome page."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ..core.backbones import FACE_BACKBONES, get_backbone
from ..core.downloads import ITEMS, weights_destination


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
    """Backbone, model kind, weights and epochs for training a classifier on the open folder of people."""

    def __init__(self, folder: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.backbone = QComboBox()
        for name in FACE_BACKBONES:
            self.backbone.addItem(f"{name} — {get_backbone(name).description}", name)
        self.kind = QComboBox()
        self.weights = QLineEdit()
        weights_row = path_row(self.weights, self._browse)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.backbone.currentIndexChanged.connect(self._backbone_changed)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._backbone_changed()
        form = QFormLayout(self)
        form.addRow(QLabel(f"Train on the people in <b>{folder}</b>."))
        form.addRow("Backbone", self.backbone)
        form.addRow("Model kind", self.kind)
        form.addRow("Pretrained weights", weights_row)
        form.addRow("Epochs", self.epochs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

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

    def _kind_changed(self) -> None:
        self.epochs.setEnabled(self.kind.currentData() == "finetuned")

    def choice(self) -> tuple[str, str | None, int | None, str]:
        """(backbone, weights file or None, epochs or None, kind)."""
        info = get_backbone(self.backbone.currentData())
        kind = self.kind.currentData()
        weights = (self.weights.text().strip() or None) if info.pretrained else None
        return info.name, weights, self.epochs.value() if kind == "finetuned" else None, kind


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


class WelcomePage(QWidget):
    """First run: three ways to start, each saying what it needs."""

    open_folder = Signal()
    download_demo = Signal()
    open_model = Signal()
    train_model = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        title = QLabel("<h1>Forget</h1><p>Recognise faces, choose people who asked to be forgotten, and get a "
                       "model that no longer knows them — with the evidence.</p>")
        title.setWordWrap(True)
        grid = QGridLayout()
        cards = (
            ("Open a folder of people…", self.open_folder,
             "One sub-folder per person with at least 5 photos each (the LFW layout). Faces are found once "
             "and cached."),
            ("Download the LFW demo…", self.download_demo,
             "62 public figures, 3,023 photos. Needs an internet connection and about 250 MB of disk."),
            ("Open a model…", self.open_model,
             "A checkpoint trained with train/train_face.py or by this app (.ckpt)."),
            ("Train a model…", self.train_model,
             "Needs an open folder of people. An embedding model on MobileFaceNet learns LFW in seconds once "
             "the faces are found; it needs the pretrained weights (a 4 MB download)."),
        )
        for row, (text, signal, help_text) in enumerate(cards):
            button = QPushButton(text)
            button.setMinimumHeight(40)
            button.clicked.connect(signal)
            note = QLabel(help_text)
            note.setWordWrap(True)
            grid.addWidget(button, row, 0)
            grid.addWidget(note, row, 1)
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addLayout(grid)
        layout.addStretch(2)
        layout.setContentsMargins(60, 30, 60, 30)

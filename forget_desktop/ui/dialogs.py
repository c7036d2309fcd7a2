"""Small dialogs: train a model, enrol a person, and the first-run welcome page."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ..core.models import BACKBONES, default_mobilefacenet_weights
from ..core.training import RECIPES


def path_row(edit: QLineEdit, browse) -> QHBoxLayout:
    """A path field with a Browse… button beside it."""
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row


class TrainDialog(QDialog):
    """Backbone, weights and epochs for training a classifier on the open folder of people."""

    def __init__(self, folder: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.backbone = QComboBox()
        for name, info in BACKBONES.items():
            if name != "mnist-cnn":
                self.backbone.addItem(f"{name} — {info.description}", name)
        self.weights = QLineEdit(str(default_mobilefacenet_weights()))
        weights_row = path_row(self.weights, self._browse)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.backbone.currentIndexChanged.connect(self._backbone_changed)
        self._backbone_changed()
        form = QFormLayout(self)
        form.addRow(QLabel(f"Train on the people in <b>{folder}</b>."))
        form.addRow("Backbone", self.backbone)
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
        name = self.backbone.currentData()
        self.epochs.setValue(RECIPES[name].epochs)
        self.weights.setEnabled(name == "mobilefacenet")

    def choice(self) -> tuple[str, str | None, int]:
        name = self.backbone.currentData()
        return name, (self.weights.text() or None) if name == "mobilefacenet" else None, self.epochs.value()


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
             "Needs an open folder of people. MobileFaceNet fine-tunes LFW in about 5 minutes on a laptop CPU "
             "and needs its pretrained weights file."),
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

"""Forget panel: method and options, reference toggle, run/cancel with progress, model versions."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.common.jobs import duration
from ..core.records.versions import Version
from ..core.unlearning import REGISTRY, Option, default_method
from .worker import Job, JobStatus, with_handlers

NO_MODEL = (
    "<b>No model is open</b>, so there is no one to forget from yet. Open one with File → Open model… "
    "(Ctrl+M), or train one on a folder of people with File → Train a model… (Ctrl+T)."
)


def option_editor(option: Option) -> QWidget:
    """A spin box, check box or combo box for one method option, set to its default."""
    if option.choices:
        editor = QComboBox()
        editor.addItems(list(option.choices))
        editor.setCurrentText(str(option.default))
    elif isinstance(option.default, bool):
        editor = QCheckBox()
        editor.setChecked(option.default)
    elif isinstance(option.default, int):
        editor = QSpinBox()
        editor.setRange(
            int(option.minimum if option.minimum is not None else 0),
            int(option.maximum if option.maximum is not None else 1_000_000),
        )
        editor.setValue(option.default)
    else:
        editor = QDoubleSpinBox()
        small = 0 < abs(option.default) < 0.01  # e.g. SCRUB's α 0.001, which two decimals would show (and run) as 0
        decimals = min(6, 1 - math.floor(math.log10(abs(option.default)))) if small else 2
        editor.setDecimals(decimals)
        editor.setRange(
            option.minimum if option.minimum is not None else 0.0, option.maximum if option.maximum is not None else 1e6
        )
        editor.setSingleStep(10.0 ** (1 - decimals) if small else 0.1 if option.default < 10 else 1.0)
        editor.setValue(option.default)
    editor.setToolTip(option.help)
    return editor


def editor_value(editor: QWidget):
    if isinstance(editor, QComboBox):
        return editor.currentText()
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
    return editor.value()


def editor_edited(editor: QWidget):
    """The signal an option's editor sends when the user changes its value."""
    if isinstance(editor, QComboBox):
        return editor.currentIndexChanged
    if isinstance(editor, QCheckBox):
        return editor.toggled
    return editor.valueChanged


class ForgetPanel(QWidget):
    """Emits ``run_requested(method, options, reference)``, ``cancel_requested`` and version choices."""

    run_requested = Signal(str, dict, bool)
    cancel_requested = Signal()
    version_chosen = Signal(str)  # checkpoint path
    method_chosen = Signal(str)  # the user's choice of method, to be remembered (``choose``)
    open_model_requested = Signal()
    train_requested = Signal()

    def __init__(self, device_text: str, method: str = "", parent=None) -> None:
        super().__init__(parent)
        self.kind = "finetuned"
        self.preferred = method  # the method the user last chose, kept where the model kind allows it
        self.method_box = QComboBox()
        self.method_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for name, entry in REGISTRY.items():
            self.method_box.addItem(entry.title, name)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        # The method's options fold away (most runs keep the defaults): open, SalUn's 14 rows pushed the Forget
        # button below the panel's fold at 1024×640.
        self.options_toggle = QToolButton()
        self.options_toggle.setCheckable(True)
        self.options_toggle.setAutoRaise(True)
        self.options_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.options_toggle.setToolTip("Show or hide the method's settings")
        self.options_toggle.toggled.connect(self._fold_options)
        self.options_content = QFrame()
        self.options_content.setFrameShape(QFrame.Shape.StyledPanel)
        self.options_form = QFormLayout(self.options_content)
        self.options_box = QWidget()
        options_layout = QVBoxLayout(self.options_box)
        options_layout.setContentsMargins(0, 0, 0, 0)
        options_layout.addWidget(self.options_toggle)
        options_layout.addWidget(self.options_content)
        self._fold_options(False)
        self.editors: dict[str, QWidget] = {}
        self.reference = QCheckBox("Compare with a retrained reference")
        self.reference.setToolTip("Also retrain from scratch without these people (slow) to judge the result")
        self.reference.setChecked(True)
        self.device = QLabel(f"Device: {device_text}")
        self.run_button = QPushButton("Forget")
        self.run_button.setToolTip("Run (Ctrl+R)")
        self.run_button.clicked.connect(self.request_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setMaximumHeight(22)
        self.progress.hide()  # shown while a forget job runs and after it
        self.message = QLabel(" ")
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)

        self.versions = QListWidget()
        self.versions.setWordWrap(True)
        self.versions.itemDoubleClicked.connect(self._use_version)
        use, revert = QPushButton("Use selected"), QPushButton("Revert to original")
        use.clicked.connect(lambda: self._use_version(self.versions.currentItem()))
        revert.clicked.connect(lambda: self._use_version(self.versions.item(0)))
        version_buttons = QHBoxLayout()
        version_buttons.addWidget(use)
        version_buttons.addWidget(revert)

        layout = QVBoxLayout(self)
        self.no_model = QLabel(NO_MODEL)
        self.no_model.setWordWrap(True)
        open_model, train = QPushButton("Open model…"), QPushButton("Train a model…")
        open_model.setToolTip("File → Open model (Ctrl+M)")
        train.setToolTip("File → Train a model (Ctrl+T): on the folder of people that is open")
        open_model.clicked.connect(self.open_model_requested)
        train.clicked.connect(self.train_requested)
        self.no_model_box = QWidget()  # shown instead of the methods while no model is open
        no_model_layout = QVBoxLayout(self.no_model_box)
        no_model_layout.setContentsMargins(0, 0, 0, 0)
        no_model_layout.addWidget(self.no_model)
        no_model_layout.addWidget(open_model)
        no_model_layout.addWidget(train)
        self.method_area = QWidget()
        method_layout = QVBoxLayout(self.method_area)
        method_layout.setContentsMargins(0, 0, 0, 0)
        method_layout.addWidget(QLabel("Method"))  # above the box, so a long method name is never cut
        method_layout.addWidget(self.method_box)
        method_layout.addWidget(self.summary)
        method_layout.addWidget(self.options_box)
        method_layout.addWidget(self.reference)
        method_layout.addWidget(self.device)
        method_layout.addLayout(buttons)
        layout.addWidget(self.no_model_box)
        layout.addWidget(self.method_area)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(QLabel("<b>Model versions</b>"))
        layout.addWidget(self.versions, 1)
        layout.addLayout(version_buttons)
        self.method_box.currentIndexChanged.connect(self._method_changed)
        self.method_box.activated.connect(lambda _i: self.choose(self.method))
        self.set_kind(self.kind)
        self.set_chosen([])
        self.set_model_open(False)

    def set_model_open(self, is_open: bool) -> None:
        """With no model open there is nothing to forget from: say so, and point to opening or training one."""
        self.model_open = is_open
        self.no_model_box.setVisible(not is_open)
        self.method_area.setVisible(is_open)
        self._refresh_enabled()

    def set_kind(self, kind: str) -> None:
        """The model in use is of this kind: offer what works on it, preselect its default."""
        self.kind = kind
        default = default_method(kind)
        view = self.method_box.model()
        for row in range(self.method_box.count()):
            name = self.method_box.itemData(row)
            view.item(row).setEnabled(self._usable(name))
            label = REGISTRY[name].title + (" (baseline)" if REGISTRY[name].baseline else "")
            self.method_box.setItemText(row, label + (" (default)" if name == default else ""))
        wanted = self.preferred if self._usable(self.preferred) else default
        self.method_box.setCurrentIndex(max(self.method_box.findData(wanted), 0))
        self._method_changed()

    def _usable(self, method: str) -> bool:
        """Whether ``method`` works on the model kind in use (exact forgetting needs an embedding model)."""
        return method in REGISTRY and (not REGISTRY[method].exact or self.kind == "embedding")

    @property
    def method(self) -> str:
        return self.method_box.currentData()

    def choose(self, method: str) -> None:
        """The user chose ``method`` (in the box, or by starting a forget with it): shown where the model kind
        allows it, kept for the next model of a kind that does, and announced to be remembered."""
        self.preferred = method
        if self._usable(method):
            self.method_box.setCurrentIndex(self.method_box.findData(method))  # its options if it changed
        self.method_chosen.emit(method)

    def options(self) -> dict:
        return {name: editor_value(editor) for name, editor in self.editors.items()}

    def changed_options(self) -> dict:
        """The options set to something other than the method's default."""
        defaults = REGISTRY[self.method].defaults()
        return {name: value for name, value in self.options().items() if defaults.get(name) != value}

    def _fold_options(self, shown: bool) -> None:
        self.options_content.setVisible(shown)
        self.options_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _options_edited(self, *_) -> None:
        changed = len(self.changed_options())
        self.options_toggle.setText(f"Options ({'defaults' if not changed else f'{changed} changed'})")

    def set_chosen(self, names: list[str]) -> None:
        self.chosen = list(names)
        count = len(names)
        self.run_button.setText(
            f"Forget {count} {'person' if count == 1 else 'people'}" if count else "Tick people to forget"
        )
        self._refresh_enabled()

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.cancel_button.setEnabled(busy)
        self._refresh_enabled()

    def _refresh_enabled(self) -> None:
        self.run_button.setEnabled(
            bool(self.chosen) and not getattr(self, "busy", False) and getattr(self, "model_open", False)
        )

    def show_progress(self, fraction: float, message: str, seconds_left: float | None) -> None:
        self.progress.show()
        self.progress.setValue(round(fraction * 1000))
        left = "" if seconds_left is None else f" · about {duration(seconds_left)} left"
        self.progress.setFormat(f"{fraction:.0%}{left}")
        self.message.setText(message)

    def watch(self, job: Job) -> Job:
        """``job`` shown here as it runs: its progress and time left in the bar, how it ended below."""

        def progressed(status: JobStatus) -> None:
            message = f"{status.title}: {status.message}" if status.message else status.title
            self.show_progress(status.fraction, message, status.seconds_left)

        return with_handlers(job, on_progress=progressed, on_end=self.finish)

    def finish(self, text: str) -> None:
        self.progress.setFormat("done" if text.startswith(("Done", "Forgot")) else "stopped")
        if not text.startswith(("Done", "Forgot")):
            self.progress.setValue(0)
        self.message.setText(text)

    def set_versions(self, versions: list[Version], current: str) -> None:
        self.versions.clear()
        for version in versions:
            item = QListWidgetItem(f"{version.title}\n{version.detail}")
            item.setData(Qt.ItemDataRole.UserRole, str(version.path))
            if str(version.path) == current:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
                item.setText("● " + item.text())
            self.versions.addItem(item)

    def _use_version(self, item) -> None:
        if item is not None:
            self.version_chosen.emit(item.data(Qt.ItemDataRole.UserRole))

    def _method_changed(self) -> None:
        method = REGISTRY[self.method]
        warning = method.warning(self.kind)  # e.g. a method that cannot meet the targets for this model
        photos = method.warning(self.kind, "photos")
        self.summary.setText(
            method.summary + (f"\n{warning}" if warning else "") + (f"\nForgetting photos: {photos}" if photos else "")
        )
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self.editors = {}
        for option in method.options:
            editor = option_editor(option)
            self.editors[option.name] = editor
            label = QLabel(option.name.replace("_", " "))
            label.setToolTip(option.help)
            self.options_form.addRow(label, editor)
            editor_edited(editor).connect(self._options_edited)
        self._options_edited()
        self.options_box.setVisible(bool(method.options))
        self.reference.setEnabled(not method.reference and not method.exact)  # exact always checks itself

    def request_run(self) -> None:
        """Run (button or Ctrl+R) — only when people are ticked and no job is running."""
        if self.run_button.isEnabled():
            self.run_requested.emit(self.method, self.options(), self.reference.isChecked())

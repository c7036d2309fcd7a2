"""A person's photos as a grid of face crops to tick, and the button that forgets the ticked ones."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.app.photo_views import PhotoTile
from ..core.common.jobs import plural
from .sources import rgb_to_qimage

PATH_ROLE = Qt.ItemDataRole.UserRole + 1


class PhotoGrid(QWidget):
    """Shows one person's photos (``show_photos``); emits ``forget_requested`` with the ticked paths."""

    forget_requested = Signal(list)
    ticks_changed = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.person = ""
        self.title = QLabel("Choose a person above to see their photos.")
        self.title.setWordWrap(True)
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(64, 64))
        self.grid.setGridSize(QSize(84, 96))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setWordWrap(True)
        self.grid.setMinimumHeight(120)
        self.grid.itemChanged.connect(lambda _item: self._ticks_changed())
        self.grid.itemDoubleClicked.connect(self._toggle)
        self.forget_button = QPushButton("Tick photos to forget")
        self.forget_button.setToolTip(
            "Forget the ticked photos with the method chosen in the Forget panel; the person stays known"
        )
        self.forget_button.setEnabled(False)
        self.forget_button.clicked.connect(lambda: self.forget_requested.emit(self.ticked()))
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear_ticks)
        buttons = QHBoxLayout()
        buttons.addWidget(self.forget_button, 1)
        buttons.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.grid, 1)
        layout.addLayout(buttons)
        self._busy = False

    def show_photos(self, person: str, tiles: list[PhotoTile]) -> None:
        self.person = person
        self.grid.blockSignals(True)
        self.grid.clear()
        for tile in tiles:
            stem = tile.name.rsplit(".", 1)[0]
            label = stem[len(person) + 1 :] if stem.startswith(person + "_") else stem[:10]
            item = QListWidgetItem(label + (" (test)" if tile.heldout else ""))
            item.setData(PATH_ROLE, tile.path)
            item.setToolTip(
                f"{tile.path}\n"
                + ("Held out: the model is tested and calibrated on it." if tile.heldout else "A training photo.")
            )
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            if tile.thumbnail is not None:
                item.setIcon(QPixmap.fromImage(rgb_to_qimage(tile.thumbnail)))
            self.grid.addItem(item)
        self.grid.blockSignals(False)
        who = person.replace("_", " ")
        self.title.setText(
            f"<b>{who}</b>: {len(tiles)} photos with a usable face. Tick the ones to forget; {who} stays known."
            if tiles
            else f"No photo of {who} is used by the model in use."
        )
        self._ticks_changed()

    def ticked(self) -> list[str]:
        return [
            self.grid.item(i).data(PATH_ROLE)
            for i in range(self.grid.count())
            if self.grid.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_ticked(self, paths: list[str]) -> None:
        wanted = set(paths)
        for i in range(self.grid.count()):
            item = self.grid.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.data(PATH_ROLE) in wanted else Qt.CheckState.Unchecked)
        self._ticks_changed()

    def clear_ticks(self) -> None:
        self.set_ticked([])

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._ticks_changed()

    def _toggle(self, item: QListWidgetItem) -> None:
        checked = item.checkState() == Qt.CheckState.Checked
        item.setCheckState(Qt.CheckState.Unchecked if checked else Qt.CheckState.Checked)

    def _ticks_changed(self) -> None:
        count = len(self.ticked())
        self.forget_button.setText(
            f"Forget {plural(count, 'photo')} of {self.person.replace('_', ' ')}" if count else "Tick photos to forget"
        )
        self.forget_button.setEnabled(bool(count) and not self._busy)
        self.ticks_changed.emit(count)

"""The photos that do not belong, most suspicious first, each with its reason: forget it, move it to the
person it shows, or keep it (remembered)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..core.app.photo_views import OutlierRow
from ..core.common.jobs import plural
from .flow_layout import FlowLayout, group
from .sources import rgb_to_qimage

COLUMNS = ("Photo and why", "Score")
ROW_ROLE = Qt.ItemDataRole.UserRole + 1


class OutliersView(QWidget):
    """Emits ``find_requested``, ``forget_requested(paths)``, ``move_requested(paths, person)`` and
    ``keep_requested(sha256s)`` for the selected rows."""

    find_requested = Signal()
    forget_requested = Signal(list)
    move_requested = Signal(list, str)
    keep_requested = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[OutlierRow] = []
        self.find_button = QPushButton("Find photos that do not belong")
        self.find_button.setToolTip(
            "Rank every photo by how much closer it is to someone else than to its own person's other photos"
        )
        self.find_button.clicked.connect(self.find_requested)
        self.summary = QLabel(
            "Mislabelled photos, someone else's face in a folder, old photos that no longer look like the person, "
            "faces too small or blurred: the list ranks them for you to decide."
        )
        self.summary.setWordWrap(True)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setIconSize(QSize(40, 40))
        self.table.verticalHeader().setDefaultSectionSize(46)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._refresh_buttons())
        self.forget_button = QPushButton("Forget")
        self.forget_button.setToolTip("Forget the selected photos from the model (their people stay known)")
        self.forget_button.clicked.connect(lambda: self.forget_requested.emit([r.path for r in self.selected()]))
        self.person_box = QComboBox()
        self.person_box.setToolTip("The person the selected photos really show")
        self.move_button = QPushButton("Move to")
        self.move_button.setToolTip("Forget them from the person they are filed under, then file them under this one")
        self.move_button.clicked.connect(
            lambda: self.move_requested.emit([r.path for r in self.selected()], self.person_box.currentData() or "")
        )
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("They belong: keep them and leave them out of this list from now on")
        self.keep_button.clicked.connect(lambda: self.keep_requested.emit([r.sha256 for r in self.selected()]))
        actions = FlowLayout()  # wraps in a narrow dock instead of widening it
        actions.add_widgets(self.forget_button, self.keep_button, group(self.move_button, self.person_box))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.find_button)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        self._busy = False
        self._refresh_buttons()

    def show_rows(self, rows: list[OutlierRow], people: list[str]) -> None:
        """The ranked list (most suspicious first) and the people a photo may be moved to."""
        self.rows = list(rows)
        self.model.removeRows(0, self.model.rowCount())
        for index, row in enumerate(rows):
            why = row.reason or f"nothing unusual found (closest other: {row.closest_other.replace('_', ' ')})"
            photo = QStandardItem(f"{row.person.replace('_', ' ')} · {row.path.rsplit('/', 1)[-1]}\n{why}")
            photo.setData(index, ROW_ROLE)
            photo.setToolTip(f"{row.path}\n{why}" + ("\n(held out: tested on, not trained on)" if row.heldout else ""))
            if row.thumbnail is not None:
                photo.setIcon(QPixmap.fromImage(rgb_to_qimage(row.thumbnail)))
            score = QStandardItem(f"{row.score:+.2f}")
            score.setToolTip(
                "Similarity to the closest other person minus similarity to their own other photos: above 0, "
                "the photo looks more like someone else"
            )
            self.model.appendRow([photo, score])
        current = self.person_box.currentData()
        self.person_box.clear()
        for name in people:
            self.person_box.addItem(name.replace("_", " "), name)
        if current:
            self.person_box.setCurrentIndex(max(self.person_box.findData(current), 0))
        standing_out = sum(bool(row.reason) for row in rows)
        self.summary.setText(
            f"{plural(len(rows), 'photo')}, most suspicious first: {standing_out} with a reason to doubt "
            f"{'it' if standing_out == 1 else 'them'}. Select one or more to forget, move or keep."
            if rows
            else "No photo to show: every photo has been kept, or none was found."
        )
        self.table.resizeRowsToContents()
        self._refresh_buttons()

    def selected(self) -> list[OutlierRow]:
        indexes = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.rows[self.model.item(i, 0).data(ROW_ROLE)] for i in indexes]

    def select_rows(self, indexes: list[int]) -> None:
        self.table.clearSelection()
        for index in indexes:
            self.table.selectionModel().select(
                self.model.index(index, 0),
                self.table.selectionModel().SelectionFlag.Select | self.table.selectionModel().SelectionFlag.Rows,
            )
        self._refresh_buttons()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        chosen = self.selected() if self.rows else []
        for button in (self.forget_button, self.keep_button):
            button.setEnabled(bool(chosen) and not self._busy)
        closest = chosen[0].closest_other if len(chosen) == 1 else None
        if closest and self.person_box.findData(closest) >= 0:
            self.person_box.setCurrentIndex(self.person_box.findData(closest))
        self.move_button.setEnabled(bool(chosen) and not self._busy and self.person_box.count() > 0)
        self.find_button.setEnabled(not self._busy)

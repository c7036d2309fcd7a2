"""Identities panel: every person with a thumbnail, photo counts and accuracy; tick whom to forget. Below,
the chosen person's photos as a grid to tick (forget photos, not the person) and the outlier list."""

from __future__ import annotations

import math

from PySide6.QtCore import QSize, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.app.session import IdentityRow, Problem
from ..core.common.jobs import plural
from .outliers_view import OutliersView
from .photo_grid import PhotoGrid
from .sources import rgb_to_qimage

COLUMNS = ("Person", "Photos", "Acc.")
TOOLTIPS = (
    "Tick the people to forget",
    "Photos in the folder (how many the model trains on and tests on: hover a row)",
    "Share of the person's test photos the model in use names correctly",
)
MAX_PERSON_WIDTH = 174  # a longer name is elided in the middle rather than widening the dock further
NAME_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2


class IdentitiesPanel(QWidget):
    """Emits ``chosen_changed`` with the ticked names whenever the ticks change."""

    chosen_changed = Signal(list)
    enrol_requested = Signal()
    person_selected = Signal(str)  # the current row's person: show their photos

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(TOOLTIPS):
            self.model.horizontalHeaderItem(column).setToolTip(tip)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setSortRole(SORT_ROLE)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search people (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setIconSize(QSize(40, 40))
        self.table.verticalHeader().setDefaultSectionSize(46)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.summary = QLabel("No folder of people open.")
        self.summary.setWordWrap(True)
        self.problems: list[Problem] = []
        self.problems_button = QPushButton()
        self.problems_button.setToolTip("The photos in which no usable face was found, and why")
        self.problems_button.clicked.connect(self.show_problems)
        self.problems_button.hide()
        enrol = QPushButton("Enrol a person…")
        enrol.setToolTip("Add a new person from camera captures or a folder, then fine-tune")
        enrol.clicked.connect(self.enrol_requested)
        clear = QPushButton("Clear ticks")
        clear.clicked.connect(self.clear_choice)
        buttons = QHBoxLayout()
        buttons.addWidget(enrol)
        buttons.addWidget(clear)
        self.photos = PhotoGrid()
        self.outliers = OutliersView()
        self.lower = QTabWidget()
        self.lower.addTab(self.photos, "Photos")
        self.lower.addTab(self.outliers, "Photos that do not belong")
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(self.table)
        self.split.addWidget(self.lower)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.split, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.problems_button)
        layout.addLayout(buttons)
        self.model.itemChanged.connect(self._item_changed)
        self._updating = False

    def sizeHint(self) -> QSize:
        return QSize(460, 640)

    def set_rows(self, rows: list[IdentityRow], problems: list[Problem] = ()) -> None:
        chosen = set(self.chosen())
        self._updating = True
        self.model.removeRows(0, self.model.rowCount())
        self.table.setSortingEnabled(False)
        for row in rows:
            name = QStandardItem(row.name.replace("_", " ") + ("  (forgotten)" if row.forgotten else ""))
            name.setData(row.name, NAME_ROLE)
            name.setData(row.name.casefold(), SORT_ROLE)
            name.setCheckable(True)
            name.setCheckState(Qt.CheckState.Checked if row.name in chosen else Qt.CheckState.Unchecked)
            if row.thumbnail is not None:
                name.setIcon(QPixmap.fromImage(rgb_to_qimage(row.thumbnail)))
            if row.forgotten:
                name.setForeground(QColor("#c0392b"))
            photos = _number(row.images)
            photos.setToolTip(f"{row.train} to train on, {row.heldout} kept aside to test")
            cells = [name, photos]
            accuracy = QStandardItem("—" if row.accuracy is None or math.isnan(row.accuracy) else f"{row.accuracy:.0%}")
            accuracy.setData(-1.0 if row.accuracy is None or math.isnan(row.accuracy) else row.accuracy, SORT_ROLE)
            cells.append(accuracy)
            for cell in cells[1:]:
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.model.appendRow(cells)
        self.table.setSortingEnabled(True)
        self._updating = False
        self._fit_names()
        total = sum(r.images for r in rows)
        self.summary.setText(f"{len(rows)} people, {total} photos" if rows else "No folder of people open.")
        self.problems = list(problems)
        self.problems_button.setText(f"{plural(len(problems), 'photo')} without a usable face…")
        self.problems_button.setVisible(bool(problems))
        self.chosen_changed.emit(self.chosen())

    def _fit_names(self) -> None:
        """Keep the table wide enough for the Person column to show whole names (up to a limit): the dock
        cannot then be squeezed, dragged or restored so narrow that only the thumbnails are left."""
        table, header = self.table, self.table.horizontalHeader()
        others = sum(max(table.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(1, len(COLUMNS)))
        person = min(max(table.sizeHintForColumn(0), header.sectionSizeHint(0)), MAX_PERSON_WIDTH)
        frame = 2 * table.frameWidth() + table.verticalScrollBar().sizeHint().width()
        table.setMinimumWidth(person + others + frame)

    def show_problems(self) -> None:
        """The photos that gave no face, each with its reason, in a dialog the user can copy from."""
        dialog = QDialog(self)
        dialog.setWindowTitle("Photos without a usable face")
        text = QPlainTextEdit("\n".join(f"{p.path}\n    {p.reason}" for p in self.problems))
        text.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(QLabel(f"{len(self.problems)} photos were left out of training and testing:"))
        layout.addWidget(text, 1)
        layout.addWidget(buttons)
        dialog.resize(720, 420)
        dialog.exec()

    def chosen(self) -> list[str]:
        return [
            self.model.item(r, 0).data(NAME_ROLE)
            for r in range(self.model.rowCount())
            if self.model.item(r, 0).checkState() == Qt.CheckState.Checked
        ]

    def set_chosen(self, names: list[str]) -> None:
        wanted = set(names)
        self._updating = True
        for r in range(self.model.rowCount()):
            item = self.model.item(r, 0)
            item.setCheckState(Qt.CheckState.Checked if item.data(NAME_ROLE) in wanted else Qt.CheckState.Unchecked)
        self._updating = False
        self.chosen_changed.emit(self.chosen())

    def clear_choice(self) -> None:
        self.set_chosen([])

    def current_person(self) -> str:
        index = self.table.currentIndex()
        if not index.isValid():
            return ""
        return self.proxy.index(index.row(), 0).data(NAME_ROLE) or ""

    def select_person(self, name: str) -> None:
        """Make ``name`` the current row (its photos are then shown)."""
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(NAME_ROLE) == name:
                self.table.setCurrentIndex(self.proxy.index(row, 0))
                return

    def _current_changed(self, current, _previous) -> None:
        name = self.proxy.index(current.row(), 0).data(NAME_ROLE) if current.isValid() else ""
        if name:
            self.person_selected.emit(name)

    def _item_changed(self, item: QStandardItem) -> None:
        if not self._updating and item.column() == 0:
            self.chosen_changed.emit(self.chosen())


def _number(value: int) -> QStandardItem:
    item = QStandardItem(str(value))
    item.setData(value, SORT_ROLE)
    return item

"""Audit tab: every forget request and erasure from the append-only log; export it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.common.jobs import plural
from .flow_layout import FlowLayout

COLUMNS = (
    "Time",
    "Event",
    "People",
    "Method",
    "Forget-test after",
    "Retain-test after",
    "Model before → after",
    "Erased",
)


def describe_erased(erased: dict) -> str:
    parts = []
    if erased.get("cached_crops"):
        parts.append(f"{erased['cached_crops']} cached crops")
    if erased.get("photos"):
        parts.append(f"{erased['photos']} photos")
    return ", ".join(parts) or "—"


def describe_people(entry: dict) -> str:
    """Who a line is about: the people, or for a request that forgot photos, how many photos of whom."""
    names = ", ".join(n.replace("_", " ") for n in entry.get("identities", []))
    if entry.get("scope") == "photos":
        return f"{plural(int(entry.get('photos_suppressed') or 0), 'photo')} of {names}"
    return names


class AuditView(QWidget):
    """Shows the log; emits ``export_requested`` and ``hash_names_changed``."""

    export_requested = Signal()
    hash_names_changed = Signal(bool)

    def __init__(self, hash_names: bool, parent=None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #c0392b")
        self.hash_names = QCheckBox("Record salted hashes instead of names")
        self.hash_names.setToolTip("New entries name people by a salted hash kept on this computer")
        self.hash_names.setChecked(hash_names)
        self.hash_names.toggled.connect(self.hash_names_changed)
        export = QPushButton("Export log…")
        export.clicked.connect(self.export_requested)
        row = FlowLayout()  # wraps in a narrow window instead of cutting the text
        row.add_widgets(self.hash_names, export)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Append-only log of every forget request (never images). Each line carries the "
            "hash of the line before it, so edits are detectable."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problems)
        layout.addLayout(row)

    def show_entries(self, entries: list[dict], problems: list[str]) -> None:
        self.table.setRowCount(0)
        for entry in reversed(entries):
            after = (entry.get("metrics") or {}).get("unlearned", {})
            cells = (
                entry.get("time", ""),
                entry.get("event", ""),
                describe_people(entry),
                entry.get("method", "—"),
                f"{after['forget_test_acc']:.0%}" if "forget_test_acc" in after else "—",
                f"{after['retain_test_acc']:.1%}" if "retain_test_acc" in after else "—",
                f"{entry['model_before_sha256'][:10]} → {entry['model_after_sha256'][:10]}"
                if entry.get("model_before_sha256")
                else entry.get("model", "—"),
                describe_erased(entry.get("erased") or {}),
            )
            row = self.table.rowCount()
            self.table.insertRow(row)
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(str(text)))
        self.problems.setText(" ".join(problems))

"""Forget history: every forget request in the records, at any time (after a restart too), with what
can still be done for it — delete their photos, find models that still know them, export a
certificate, show it in Results, or let a person back in."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.records.requests import ForgetRequest
from ..core.unlearning import method_title
from .flow_layout import FlowLayout

COLUMNS = ("Request", "Time", "People", "Method", "Evidence", "Erased", "Status")


def evidence(request: ForgetRequest) -> str:
    if request.identical_to_reference:
        return "identical to a retrain"
    report = request.report
    if report is None:
        return "—"
    if report.baseline:
        return "baseline (does not claim to forget)"
    after = report.unlearned
    return f"forget-test {after.forget_test_acc:.0%}, retain-test {after.retain_test_acc:.1%}"


def erased_text(request: ForgetRequest) -> str:
    erased = request.erased
    parts = [f"{erased.cached_crops} crops", f"{erased.cached_embeddings} embeddings"]
    if erased.photos:
        parts.append(f"{erased.photos} photos")
    text = ", ".join(parts)
    return text + (f" ({request.erasure_owed} owed)" if request.erasure_owed else "")


class HistoryView(QWidget):
    """A table of requests; each button acts on the selected request (signals carry its id)."""

    erase_photos_requested = Signal(int)
    models_requested = Signal(int)
    certificate_requested = Signal(int)
    results_requested = Signal(int)
    let_back_requested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.requests: list[ForgetRequest] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # whole names; a narrow window scrolls
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.empty = QLabel("No one has been forgotten yet. Forget requests appear here, and stay after a restart.")
        self.empty.setWordWrap(True)
        self.buttons = {
            "results": QPushButton("Show in Results"),
            "certificate": QPushButton("Export certificate…"),
            "photos": QPushButton("Delete their photos…"),
            "models": QPushButton("Models that still know them…"),
            "let_back": QPushButton("Let them back in…"),
        }
        tips = {
            "results": "Show this request's before/after charts",
            "certificate": "A certificate of this request as PDF, HTML or JSON, for a data-protection officer",
            "photos": "Delete their source photos from the folder of people (asks first)",
            "models": "Every model file the app has seen that still recognises them, to delete",
            "let_back": "Only if they asked to return: training and enrolment may learn them again (audited)",
        }
        signals = {
            "results": self.results_requested,
            "certificate": self.certificate_requested,
            "photos": self.erase_photos_requested,
            "models": self.models_requested,
            "let_back": self.let_back_requested,
        }
        row = FlowLayout()  # wraps in a narrow window instead of cutting the buttons' text
        for key, button in self.buttons.items():
            button.setToolTip(tips[key])
            button.setEnabled(False)
            button.clicked.connect(lambda _=False, s=signals[key]: self.selected() and s.emit(self.selected().id))
            row.addWidget(button)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Every forget request, from the records. Forgotten people stay forgotten: training, enrolment and "
            "opening a model leave them out (by name and by photo content) unless you let them back in."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)

    def show_requests(self, requests: list[ForgetRequest]) -> None:
        selected = self.selected().id if self.selected() else None
        self.requests = list(reversed(requests))  # newest first
        self.table.setRowCount(0)
        for request in self.requests:
            status = "let back in" if request.reincluded and len(request.reincluded) == len(request.people) else ""
            cells = (
                str(request.id),
                request.time.replace("T", " ")[:16],
                ", ".join(p.replace("_", " ") for p in request.people) or f"{request.photos_suppressed} photos",
                method_title(request.method) if request.method else "—",
                evidence(request),
                erased_text(request),
                status or "in force",
            )
            row = self.table.rowCount()
            self.table.insertRow(row)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
            if request.id == selected:
                self.table.selectRow(row)
        self.empty.setVisible(not self.requests)
        self.table.setVisible(bool(self.requests))
        if self.requests and selected is None:
            self.table.selectRow(0)
        self._selection_changed()

    def selected(self) -> ForgetRequest | None:
        rows = self.table.selectionModel().selectedRows()
        return self.requests[rows[0].row()] if rows else None

    def _selection_changed(self) -> None:
        request = self.selected()
        for key, button in self.buttons.items():
            enabled = request is not None
            if key == "results":
                enabled = enabled and request.report is not None
            if key in ("photos", "let_back"):
                enabled = enabled and request.scope == "people" and len(request.reincluded) < len(request.people)
            button.setEnabled(enabled)

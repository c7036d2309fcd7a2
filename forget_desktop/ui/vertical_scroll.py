"""A scroll area that scrolls its widget up and down only."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget


class VerticalScroll(QScrollArea):
    """Holds ``widget`` at the full width it needs, with room for the scroll bar beside it, so that on a short
    screen its controls scroll instead of being squeezed flat, and never scroll sideways."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(widget)

    def _wide_enough(self, hint: QSize, width: int) -> QSize:
        return QSize(width + self.verticalScrollBar().sizeHint().width(), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return self._wide_enough(super().minimumSizeHint(), self.widget().minimumSizeHint().width())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return self._wide_enough(super().sizeHint(), self.widget().sizeHint().width())

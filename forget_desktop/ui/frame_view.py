"""The picture with a box, a name and a confidence over every face; click a face to select it."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..core.recognise import UNKNOWN, FaceResult
from .sources import rgb_to_qimage

KNOWN, STRANGER, SELECTED = QColor(46, 204, 113), QColor(243, 156, 18), QColor(52, 152, 219)


def display_name(face: FaceResult, threshold: float) -> str:
    """The name shown for a face at the current threshold (Unknown below it)."""
    return face.named_at(threshold).replace("_", " ")


def tag_text(face: FaceResult, threshold: float) -> str:
    """The label drawn over a face: the name and how sure the classifier is, or just Unknown."""
    name = display_name(face, threshold)
    return name if name == UNKNOWN else f"{name} {face.confidence:.0%}"


class FrameView(QWidget):
    """Paints the latest recognised frame scaled to fit, with overlays; emits ``face_clicked``."""

    face_clicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.image = None
        self.faces: list[FaceResult] = []
        self.threshold = 0.8
        self.selected = -1
        self.placeholder = "Open images, a video or a camera to recognise faces."

    def sizeHint(self) -> QSize:
        return QSize(800, 560)

    def show_frame(self, rgb, faces: list[FaceResult]) -> None:
        self.image = rgb_to_qimage(rgb)
        self.faces = faces
        if self.selected >= len(faces):
            self.selected = 0 if faces else -1
        self.update()

    def set_threshold(self, value: float) -> None:
        self.threshold = value
        self.update()

    def select(self, index: int) -> None:
        self.selected = index
        self.update()

    def _geometry(self) -> tuple[float, QPointF]:
        scale = min(self.width() / self.image.width(), self.height() / self.image.height())
        offset = QPointF((self.width() - self.image.width() * scale) / 2,
                         (self.height() - self.image.height() * scale) / 2)
        return scale, offset

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().window().color().darker(115))
        if self.image is None:
            painter.setPen(self.palette().text().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        scale, offset = self._geometry()
        target = QRectF(offset.x(), offset.y(), self.image.width() * scale, self.image.height() * scale)
        painter.drawImage(target, self.image)
        font = QFont(self.font())
        font.setPointSizeF(max(9.0, min(13.0, 11.0 * scale + 4)))
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        placed: list[QRectF] = []
        for index, face in enumerate(self.faces):
            x1, y1, x2, y2 = face.box
            rect = QRectF(offset.x() + x1 * scale, offset.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
            name = display_name(face, self.threshold)
            colour = SELECTED if index == self.selected else (STRANGER if name == UNKNOWN else KNOWN)
            painter.setPen(QPen(colour, 3 if index == self.selected else 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
            label = tag_text(face, self.threshold)
            size = QSizeF(metrics.horizontalAdvance(label) + 8, metrics.height() + 4)
            box = label_place(rect, size, placed, QRectF(self.rect()))
            placed.append(box)
            painter.fillRect(box, colour)
            painter.setPen(QColor("white"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, label)

    def mousePressEvent(self, event) -> None:
        if self.image is None:
            return
        scale, offset = self._geometry()
        point = event.position()
        for index, face in enumerate(self.faces):
            x1, y1, x2, y2 = face.box
            if QRectF(offset.x() + x1 * scale, offset.y() + y1 * scale, (x2 - x1) * scale,
                      (y2 - y1) * scale).contains(point):
                self.select(index)
                self.face_clicked.emit(index)
                return


def label_place(face: QRectF, size: QSizeF, taken: list[QRectF], bounds: QRectF) -> QRectF:
    """Where a face's name tag goes: above the box, else below it, else stacked higher; never on another tag."""
    above = QRectF(QPointF(face.left(), face.top() - size.height()), size)
    below = QRectF(QPointF(face.left(), face.bottom()), size)
    candidates = [above, below] + [above.translated(0, -step * size.height()) for step in range(1, 6)]
    for box in candidates:
        if bounds.contains(box) and not any(box.intersects(other) for other in taken):
            return box
    return above if bounds.contains(above) else below

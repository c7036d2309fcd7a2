"""The picture with a box, a name and a confidence over every face; click a face to select it."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..core.recognition.recognise import UNKNOWN, FaceResult
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
        offset = QPointF(
            (self.width() - self.image.width() * scale) / 2, (self.height() - self.image.height() * scale) / 2
        )
        return scale, offset

    def _font(self, scale: float) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(9.0, min(13.0, 11.0 * scale + 4)))
        font.setBold(True)
        return font

    def layout_tags(self) -> list[tuple[QRectF, QRectF, str]]:
        """(face box, tag box, tag text) for every face, in widget pixels: each tag inside the picture and
        clear of every other tag."""
        if self.image is None:
            return []
        scale, offset = self._geometry()
        picture = QRectF(offset.x(), offset.y(), self.image.width() * scale, self.image.height() * scale)
        metrics = QFontMetricsF(self._font(scale))
        placed, result = [], []
        for face in self.faces:
            x1, y1, x2, y2 = face.box
            rect = QRectF(offset.x() + x1 * scale, offset.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
            text = metrics.elidedText(tag_text(face, self.threshold), Qt.TextElideMode.ElideRight, picture.width() - 8)
            size = QSizeF(metrics.horizontalAdvance(text) + 8, metrics.height() + 4)
            box = label_place(rect, size, placed, picture)
            placed.append(box)
            result.append((rect, box, text))
        return result

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().window().color().darker(115))
        if self.image is None:
            painter.setPen(self.palette().text().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        scale, offset = self._geometry()
        painter.drawImage(
            QRectF(offset.x(), offset.y(), self.image.width() * scale, self.image.height() * scale), self.image
        )
        painter.setFont(self._font(scale))
        for index, (face, (rect, box, text)) in enumerate(zip(self.faces, self.layout_tags())):
            name = display_name(face, self.threshold)
            colour = SELECTED if index == self.selected else (STRANGER if name == UNKNOWN else KNOWN)
            painter.setPen(QPen(colour, 3 if index == self.selected else 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
            painter.fillRect(box, colour)
            painter.setPen(QColor("white"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def mousePressEvent(self, event) -> None:
        if self.image is None:
            return
        scale, offset = self._geometry()
        point = event.position()
        for index, face in enumerate(self.faces):
            x1, y1, x2, y2 = face.box
            if QRectF(offset.x() + x1 * scale, offset.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale).contains(
                point
            ):
                self.select(index)
                self.face_clicked.emit(index)
                return


def label_place(face: QRectF, size: QSizeF, taken: list[QRectF], bounds: QRectF) -> QRectF:
    """Where a face's name tag goes: above its box, else below it, else inside its top or bottom edge,
    else stacked further up or down — always inside ``bounds`` (the picture) and on no other tag; if the
    picture has no free place left, the place that covers the least of the others."""

    def inside(y: float) -> QRectF:
        x = min(max(face.left(), bounds.left()), bounds.right() - size.width())
        y = min(max(y, bounds.top()), bounds.bottom() - size.height())
        return QRectF(QPointF(max(x, bounds.left()), max(y, bounds.top())), size)

    height = size.height()
    rows = [face.top() - height, face.bottom(), face.top(), face.bottom() - height]
    rows += [y for step in range(1, 12) for y in (face.top() - (step + 1) * height, face.bottom() + step * height)]
    candidates = [inside(y) for y in rows]
    for box in candidates:
        if not any(box.intersects(other) for other in taken):
            return box

    def covered(box: QRectF) -> float:
        return sum(box.intersected(other).width() * box.intersected(other).height() for other in taken)

    return min(candidates, key=covered)

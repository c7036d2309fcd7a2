"""The picture with a box, a name and a confidence over every face; click a face to select it."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..core.recognition.recognise import UNKNOWN, FaceResult
from .sources import rgb_to_qimage

MIN_TAG_WIDTH = 44  # the narrowest a tag gets (about "Un…" in the tag font)
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

    def face_rects(self) -> list[QRectF]:
        """Every face's box in widget pixels."""
        scale, offset = self._geometry()
        return [
            QRectF(offset.x() + x1 * scale, offset.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
            for x1, y1, x2, y2 in (face.box for face in self.faces)
        ]

    def layout_tags(self) -> list[tuple[QRectF, QRectF, str]]:
        """(face box, tag box, tag text) for every face, in widget pixels: each tag inside the picture, clear of
        every other tag and, where it can be, of every other face (shortened to the face's width, then elided,
        when the whole text finds no clear place)."""
        if self.image is None:
            return []
        scale, offset = self._geometry()
        picture = QRectF(offset.x(), offset.y(), self.image.width() * scale, self.image.height() * scale)
        metrics = QFontMetricsF(self._font(scale))
        rects = self.face_rects()
        placed, result = [], []
        for index, (face, rect) in enumerate(zip(self.faces, rects)):
            others = rects[:index] + rects[index + 1 :]
            full = tag_text(face, self.threshold)
            widths = [picture.width() - 8, max(rect.width(), MIN_TAG_WIDTH) - 8, MIN_TAG_WIDTH - 8]
            best = None
            for width in widths:
                text = metrics.elidedText(full, Qt.TextElideMode.ElideRight, width)
                size = QSizeF(metrics.horizontalAdvance(text) + 8, metrics.height() + 4)
                box, clear = label_place(rect, size, placed, picture, others)
                best = (box, text)
                if clear:
                    break
            placed.append(best[0])
            result.append((rect, best[0], best[1]))
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
        point = event.position()
        for index, rect in enumerate(self.face_rects()):
            if rect.contains(point):
                self.select(index)
                self.face_clicked.emit(index)
                return


def label_place(
    face: QRectF, size: QSizeF, taken: list[QRectF], bounds: QRectF, faces: list[QRectF] = ()
) -> tuple[QRectF, bool]:
    """Where a face's name tag goes, and whether that place is clear: above its box, else below it, else
    inside its top or bottom edge, else stacked further up or down (each left-aligned, right-aligned or
    centred on the face) — always inside ``bounds`` (the picture), on no other tag (``taken``) and on no other
    face (``faces``). With no clear place, the one that covers the least of them (other faces count most)."""

    def inside(x: float, y: float) -> QRectF:
        x = min(max(x, bounds.left()), bounds.right() - size.width())
        y = min(max(y, bounds.top()), bounds.bottom() - size.height())
        return QRectF(QPointF(max(x, bounds.left()), max(y, bounds.top())), size)

    height = size.height()
    rows = [face.top() - height, face.bottom(), face.top(), face.bottom() - height]
    rows += [y for step in range(1, 12) for y in (face.top() - (step + 1) * height, face.bottom() + step * height)]
    columns = [face.left(), face.right() - size.width(), face.center().x() - size.width() / 2]
    for y in rows:  # the first clear place, made one at a time: most tags find one among the first few
        for x in columns:
            box = inside(x, y)
            if not any(box.intersects(other) for other in taken) and not any(box.intersects(f) for f in faces):
                return box, True
    candidates = [inside(x, y) for y in rows for x in columns]

    def area(box: QRectF, others) -> float:
        return sum(box.intersected(o).width() * box.intersected(o).height() for o in others if box.intersects(o))

    free = [box for box in candidates if not any(box.intersects(other) for other in taken)]
    if free:  # tags never cover tags; of the places left, the one that covers the least of the faces
        return min(free, key=lambda box: area(box, faces)), False
    return min(candidates, key=lambda box: area(box, taken) + 4 * area(box, faces)), False

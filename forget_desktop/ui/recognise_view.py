"""Recognise view: choose a source, see every face named, inspect what the model sees."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QSlider, QSplitter, QVBoxLayout, QWidget

from ..core.common.images import IMAGE_SUFFIXES
from ..core.common.jobs import plural
from ..core.faces.frames import VIDEO_SUFFIXES
from ..core.recognition.recognise import UNKNOWN
from .charts import TopChart
from .flow_layout import FlowLayout, group
from .frame_view import FrameView, display_name
from .sources import rgb_to_qimage

NARROW = 620  # below this width the side panel goes under the photo
SIDE_WIDTH, CROP_WIDE, CROP_NARROW = 250, 168, 120


class ThresholdSlider(QSlider):
    """140 px wide where there is room, down to its minimum where there is not."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(140, super().sizeHint().height())


class RecogniseView(QWidget):
    """Frames come in through ``show_result``; source choices go out as signals."""

    open_images_requested = Signal()
    open_folder_requested = Signal()
    open_video_requested = Signal()
    camera_requested = Signal(int)  # index into the camera list
    step_requested = Signal(int)  # -1 / +1 for image files
    play_requested = Signal(str)  # "pause", "play" or "replay" for a video
    files_dropped = Signal(list)
    threshold_changed = Signal(float)

    def __init__(self, threshold: float, parent=None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.frame_view = FrameView()
        self.frame_view.threshold = threshold
        self.frame_view.face_clicked.connect(self._show_selected)

        self.camera_box = QComboBox()
        self.camera_box.setToolTip("Cameras on this computer")
        self.camera_box.setMinimumWidth(150)
        self.camera_button = QPushButton("Start camera")
        self.camera_button.clicked.connect(lambda: self.camera_requested.emit(self.camera_box.currentIndex()))
        images, folder, video = QPushButton("Images…"), QPushButton("Folder…"), QPushButton("Video…")
        images.setToolTip("Open image files (Ctrl+O)")
        images.clicked.connect(self.open_images_requested)
        folder.clicked.connect(self.open_folder_requested)
        video.clicked.connect(self.open_video_requested)
        self.previous, self.next = QPushButton("◀"), QPushButton("▶")
        self.previous.setToolTip("Previous image (Page Up)")
        self.next.setToolTip("Next image (Page Down)")
        self.previous.clicked.connect(lambda: self.step_requested.emit(-1))
        self.next.clicked.connect(lambda: self.step_requested.emit(1))
        self.set_stepping(False)
        self.pause_button, self.replay_button = QPushButton("Pause"), QPushButton("Replay")
        self.pause_button.setToolTip("Pause or play the video")
        self.pause_button.clicked.connect(self._pause_clicked)
        self.replay_button.setToolTip("Play the video again from the start")
        self.replay_button.clicked.connect(lambda: self._play("replay"))
        for button in (self.pause_button, self.replay_button):
            button.hide()

        self.calibrated = True  # the slider moves a similarity threshold (else a softmax confidence)
        self.calibrated_value: float | None = None
        self.slider = ThresholdSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(round(threshold * 100))
        self.slider.setMinimumWidth(70)
        self.slider_caption = QLabel("Unknown below similarity")
        self.slider_label = QLabel()
        self.slider.valueChanged.connect(self._threshold_moved)
        self._threshold_moved(self.slider.value())

        self.slider_label.setFixedWidth(self.slider_label.fontMetrics().horizontalAdvance("0.00 (calibrated)") + 8)
        for button in (self.previous, self.next):
            button.setFixedWidth(44)
        controls = FlowLayout()  # wraps onto more rows when the window is narrow, instead of cutting text
        controls.add_widgets(
            group(self.camera_box, self.camera_button),
            images,
            folder,
            video,
            group(self.previous, self.next),
            self.pause_button,
            self.replay_button,
            group(self.slider_caption, self.slider, self.slider_label),
        )

        self.crop_label = QLabel("Click a face")
        self.crop_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.crop_label.setToolTip("What the model sees: the aligned face crop")
        self.side_title = QLabel("<b>What the model sees</b>")
        self.face_title = QLabel()
        self.face_title.setWordWrap(True)
        self.top_title = QLabel("<b>Top 5</b>")
        self.top_chart = TopChart()
        self.side = QWidget()
        self.side_grid = QGridLayout(self.side)
        self.side_grid.setContentsMargins(4, 0, 0, 0)
        self.splitter = QSplitter()
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.frame_view)
        self.splitter.addWidget(self.side)
        self.narrow: bool | None = None
        self._arrange_side(narrow=False)
        self.status = QLabel(" ")
        self.status.setWordWrap(True)  # a long job title takes two lines at 1024 px
        self._frame_status = " "  # what the status line says about the last frame
        self._waiting: str | None = None  # a job recognition waits for
        self._ended = False  # the video reached its end
        self._side_shown, self._side_time = None, 0.0  # what the side panel shows, and since when
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)
        self._times: list[float] = []

    # --- layout ------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._arrange_side(self.width() < NARROW)

    def _arrange_side(self, narrow: bool) -> None:
        """Wide: the crop and the top-5 chart in a column beside the photo. Narrow (beside both docks on a
        small screen): in a strip under the photo, the crop on the left and the chart on the right."""
        if narrow == self.narrow:
            return
        self.narrow = narrow
        grid = self.side_grid
        for widget in (self.side_title, self.crop_label, self.face_title, self.top_title, self.top_chart):
            grid.removeWidget(widget)
        for row in range(6):
            grid.setRowStretch(row, 0)
        grid.setColumnStretch(1, 0)
        centre = Qt.AlignmentFlag.AlignHCenter
        if narrow:
            self.crop_label.setFixedSize(CROP_NARROW, CROP_NARROW)
            grid.addWidget(self.side_title, 0, 0)
            grid.addWidget(self.crop_label, 1, 0, 2, 1, centre | Qt.AlignmentFlag.AlignTop)
            grid.addWidget(self.face_title, 0, 1)
            grid.addWidget(self.top_title, 1, 1)
            grid.addWidget(self.top_chart, 2, 1)
            grid.setRowStretch(2, 1)
            grid.setColumnStretch(1, 1)
            self.top_chart.setMinimumHeight(120)
            self.side.setMinimumSize(0, CROP_NARROW + 60)
            self.splitter.setOrientation(Qt.Orientation.Vertical)
            self.splitter.setStretchFactor(0, 1)
            self.splitter.setStretchFactor(1, 0)
            self.splitter.setSizes([max(self.height() - 260, 200), 200])
        else:
            self.crop_label.setFixedSize(CROP_WIDE, CROP_WIDE)
            grid.addWidget(self.side_title, 0, 0)
            grid.addWidget(self.crop_label, 1, 0, centre)
            grid.addWidget(self.face_title, 2, 0)
            grid.addWidget(self.top_title, 3, 0)
            grid.addWidget(self.top_chart, 4, 0)
            grid.setRowStretch(4, 1)
            self.top_chart.setMinimumHeight(150)
            self.side.setMinimumSize(SIDE_WIDTH, 0)
            self.splitter.setOrientation(Qt.Orientation.Horizontal)
            self.splitter.setStretchFactor(0, 4)
            self.splitter.setStretchFactor(1, 1)
            self.splitter.setSizes([max(self.width() - SIDE_WIDTH, 320), SIDE_WIDTH])  # the photo gets the room
        if self.frame_view.faces:
            self.refresh_selected()

    # --- inputs ------------------------------------------------------------------------------
    def set_cameras(self, names: list[str], current: str = "") -> None:
        self.camera_box.clear()
        if names:
            self.camera_box.addItems(names)
            if current in names:
                self.camera_box.setCurrentIndex(names.index(current))
        else:
            self.camera_box.addItem("No camera found")
        self.camera_box.setEnabled(bool(names))
        self.camera_button.setEnabled(bool(names))

    def set_stepping(self, enabled: bool) -> None:
        self.previous.setEnabled(enabled)
        self.next.setEnabled(enabled)

    def set_source_kind(self, source) -> None:
        """Show the controls that fit the new source: stepping for images, pause/replay for a video."""
        from .sources import ImageSource, VideoSource

        self.set_stepping(isinstance(source, ImageSource) and len(source) > 1)
        video = isinstance(source, VideoSource)
        self.pause_button.setVisible(video)
        self.replay_button.setVisible(video)
        self.pause_button.setEnabled(True)
        self.pause_button.setText("Pause")
        self._times = []
        self._ended = False

    def _pause_clicked(self) -> None:
        playing = self.pause_button.text() == "Pause"
        self.pause_button.setText("Play" if playing else "Pause")
        self._play("pause" if playing else "play")

    def _play(self, action: str) -> None:
        if action == "replay":
            self.pause_button.setText("Pause")
            self.pause_button.setEnabled(True)
            self._ended = False
        self.play_requested.emit(action)

    def stream_ended(self) -> None:
        """The video reached its end: say so (also under the frames still being recognised) and offer Replay."""
        self.pause_button.setEnabled(False)
        self._ended = True
        self._count_named()

    def show_waiting(self, job_title: str | None) -> None:
        """Say that recognition waits for a job (``None``: it no longer does)."""
        self._waiting = job_title
        self._update_status()

    def _update_status(self) -> None:
        # while a job holds recognition up, what the last frame said is stale: the line says why instead
        waiting = f"Recognition waits while “{self._waiting}” runs." if self._waiting else ""
        self.status.setText(waiting or self._frame_status)

    def show_result(self, frame, faces) -> None:
        """Render one recognised frame (called on the GUI thread)."""
        self.frame_view.show_frame(frame.rgb, faces)
        now = time.monotonic()
        self._times = [t for t in self._times if now - t < 2.0] + [now]
        rate = (len(self._times) - 1) / (self._times[-1] - self._times[0]) if len(self._times) > 2 else 0
        self._frame_counts = (frame.label, len(faces), rate)
        selected = self.frame_view.selected if self.frame_view.selected >= 0 else 0
        shown = (len(faces), faces[selected].top[0][0] if selected < len(faces) else None)
        # A stream refreshes the status line four times a second, and the side panel (crop, top-5 chart) when
        # what it shows changes or four times a second: redrawing them (and laying the view out again for a
        # new status text) for every frame would cost the video its frame rate.
        due = not frame.stream or now - self._side_time >= 0.25
        if due:
            self._count_named()
        if due or shown != self._side_shown:
            self._side_shown, self._side_time = shown, now
            self._show_selected(selected)

    def _count_named(self) -> None:
        """The status line for the frame on screen, counted at the threshold now set."""
        label, count, rate = getattr(self, "_frame_counts", ("", 0, 0))
        if not label:
            return
        known = sum(display_name(f, self.frame_view.threshold) != UNKNOWN for f in self.frame_view.faces)
        self._frame_status = f"{label}: {plural(count, 'face')}, {known} named" + (
            " · end of video (Replay plays it again)" if self._ended else f" · {rate:.1f} frames/s" if rate else ""
        )
        self._update_status()

    def show_message(self, text: str) -> None:
        self._frame_status = text
        self._update_status()

    def _show_selected(self, index: int) -> None:
        faces = self.frame_view.faces
        if not faces or index >= len(faces):
            self.crop_label.setPixmap(QPixmap())
            self.crop_label.setText("No face")
            self.face_title.setText("")
            self.top_chart.show_top([], False)
            return
        self.frame_view.select(index)
        face = faces[index]
        crop = face.crop if face.crop.shape[2] == 3 else face.crop.repeat(3, 2)
        pixmap = QPixmap.fromImage(rgb_to_qimage(crop)).scaled(
            self.crop_label.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.crop_label.setPixmap(pixmap)
        self.face_title.setText(face_summary(index, face, self.frame_view.threshold))
        self.top_chart.show_top(face.top, display_name(face, self.frame_view.threshold) != UNKNOWN)

    def refresh_selected(self) -> None:
        self._show_selected(max(self.frame_view.selected, 0))

    def set_model_threshold(self, calibrated: bool, value: float, calibrated_value: float | None) -> None:
        """A model was opened: say what the slider moves and put it at ``value``."""
        self.calibrated, self.calibrated_value = calibrated, calibrated_value
        self.slider_caption.setText("Unknown below similarity" if calibrated else "Unknown below confidence")
        self.slider.setToolTip(
            "A face is named only if it is this similar to the person the model picks (cosine to their mean "
            "face embedding); strangers and forgotten people stay below it. "
            f"Calibrated to keep 99 % of the model's own test faces named: {calibrated_value:.2f}."
            if calibrated
            else "Faces the model is less sure of than this are shown as Unknown."
        )
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * 100))
        self.slider.blockSignals(False)
        self._show_threshold(self.slider.value())

    def _threshold_moved(self, value: int) -> None:
        self._show_threshold(value)
        self.threshold_changed.emit(value / 100)

    def _show_threshold(self, value: int) -> None:
        mark = (
            " (calibrated)" if self.calibrated_value is not None and round(self.calibrated_value * 100) == value else ""
        )
        self.slider_label.setText(f"{value / 100:.2f}{mark}" if self.calibrated else f"{value}%")
        self.frame_view.set_threshold(value / 100)
        if self.frame_view.faces:
            self._show_selected(max(self.frame_view.selected, 0))
        self._count_named()

    # --- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if any(_droppable(url.toLocalFile()) for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if _droppable(url.toLocalFile())]
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)


def _droppable(path: str) -> bool:
    candidate = Path(path)
    return candidate.is_dir() or candidate.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES


def face_summary(index: int, face, threshold: float) -> str:
    """One line under the crop: who the face is named as, and why (or why it is Unknown)."""
    name = display_name(face, threshold)
    closest = face.top[0][0].replace("_", " ")
    if face.similarity is None:
        return f"Face {index + 1}: <b>{name}</b> ({face.confidence:.1%})"
    if name == UNKNOWN and face.disputed and face.similarity >= threshold:  # close enough, but not to them
        return (
            f"Face {index + 1}: <b>Unknown</b> — the model picks {closest} (similarity {face.similarity:.2f}), "
            "but its frozen anchor finds the face closer to someone else"
        )
    if name == UNKNOWN:
        return (
            f"Face {index + 1}: <b>Unknown</b> — closest is {closest}, similarity {face.similarity:.2f} "
            f"(needs {threshold:.2f})"
        )
    return f"Face {index + 1}: <b>{name}</b> ({face.confidence:.1%}, similarity {face.similarity:.2f})"

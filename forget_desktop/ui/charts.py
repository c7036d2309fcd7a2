"""pyqtgraph charts: top-5 probabilities, before/after grouped bars, per-identity accuracy."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtGui import QFontMetrics, QPalette
from PySide6.QtWidgets import QApplication

SERIES_COLOURS = {"original": "#7f8c8d", "unlearned": "#e74c3c", "reference": "#3498db"}


def text_colour():
    return QApplication.instance().palette().color(QPalette.ColorRole.Text)


def theme_chart(plot: pg.PlotWidget) -> None:
    """Follow the window's light or dark palette (and leave room right of the plot for the last tick's text)."""
    plot.getPlotItem().layout.setContentsMargins(2, 2, 16, 2)
    palette = QApplication.instance().palette()
    plot.setBackground(palette.color(QPalette.ColorRole.Base))
    text = text_colour()
    for name in ("left", "bottom", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
        if name != "left":  # else pyqtgraph hides the end ticks (0 %, 100 %) whose text reaches past the axis
            axis.setStyle(hideOverlappingLabels=False)


def legend_html(series: list[str]) -> str:
    """A one-line legend for the charts, as rich text (outside the plots, so it never covers a bar)."""
    return "&nbsp;&nbsp;&nbsp;".join(
        f"<span style='color:{SERIES_COLOURS.get(name, '#9b59b6')}'>■</span> {name}" for name in series
    )


def fit_axis_to_labels(axis: pg.AxisItem, labels: list[str]) -> None:
    """Make a vertical axis wide enough for its longest tick label (pyqtgraph would cut it short)."""
    metrics = QFontMetrics(axis.style.get("tickFont") or axis.font())
    widest = max((metrics.horizontalAdvance(text) for text in labels), default=0)
    axis.setWidth(widest + axis.style["tickTextOffset"][0] + max(axis.style["tickLength"], 0) + 8)


class TopChart(pg.PlotWidget):
    """Horizontal bars: the model's five most likely names for the selected face."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        theme_chart(self)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.getPlotItem().setLabel("bottom", "probability")
        self.setXRange(0, 1, padding=0.02)
        self.setMinimumHeight(150)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name): a side panel, not a main view
        return QSize(240, 300)

    def show_top(self, top: list[tuple[str, float]], named: bool) -> None:
        """Bars for the top names; the first is green when the face is named, grey when it is Unknown."""
        theme_chart(self)
        self.clear()
        names = [name.replace("_", " ") for name, _ in top][::-1]
        fit_axis_to_labels(self.getAxis("left"), names)
        if not top:  # no face: no names left over from the last one
            self.getAxis("left").setTicks([[]])
            return
        values = [p for _, p in top][::-1]
        brushes = [pg.mkBrush("#2ecc71" if named and i == len(values) - 1 else "#95a5a6") for i in range(len(values))]
        self.addItem(pg.BarGraphItem(x0=0, y=list(range(len(values))), height=0.7, width=values, brushes=brushes))
        self.getAxis("left").setTicks([list(enumerate(names))])
        self.getAxis("bottom").setTicks([[(v, f"{v:.0%}") for v in (0.0, 0.5, 1.0)]])
        self.setYRange(-0.6, len(values) - 0.4, padding=0)
        self.setXRange(0, 1, padding=0.02)


class GroupedBars(pg.PlotWidget):
    """Categories on the x axis, one coloured bar per series (original / unlearned / reference), each
    with its value written upright above it (so neighbouring values never run into each other)."""

    def __init__(self, y_label: str, parent=None) -> None:
        super().__init__(parent)
        theme_chart(self)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.getPlotItem().setLabel("left", y_label)
        self.getAxis("bottom").setHeight(32)
        self.setMinimumHeight(230)

    def show_groups(self, categories: list[str], series: dict[str, list[float | None]], fmt: str = "{:.0%}") -> None:
        theme_chart(self)
        self.clear()
        width = 0.8 / max(len(series), 1)
        colour = text_colour()
        for offset, (name, values) in enumerate(series.items()):
            xs = [i - 0.4 + width * (offset + 0.5) for i in range(len(categories))]
            heights = [0.0 if v is None or math.isnan(v) else v for v in values]
            self.addItem(
                pg.BarGraphItem(
                    x=xs, height=heights, width=width * 0.9, brush=pg.mkBrush(SERIES_COLOURS.get(name, "#9b59b6"))
                )
            )
            for x, value in zip(xs, values):
                missing = value is None or math.isnan(value)
                label = pg.TextItem("n/a" if missing else fmt.format(value), color=colour, anchor=(0.0, 0.5), angle=90)
                label.setPos(x, 0.02 + (0.0 if missing else value))
                self.addItem(label)
        self.getAxis("bottom").setTicks([list(enumerate(categories))])
        self.getAxis("left").setTicks([[(v, fmt.format(v)) for v in (0.0, 0.25, 0.5, 0.75, 1.0)]])
        self.setXRange(-0.6, len(categories) - 0.4, padding=0)
        self.setYRange(0.0, 1.45, padding=0)  # room for the upright values above a full bar


class IdentityBars(pg.PlotWidget):
    """Held-out accuracy per identity, before and after (forgotten people first, marked ✗), in the
    colours of the shared legend; the accuracy axis is drawn above and below the bars."""

    SERIES_ROW, GAP = 9, 12  # pixels per bar, and between people

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        theme_chart(self)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.showAxis("top")
        for name in ("top", "bottom"):
            self.getAxis(name).setTicks([[(v, f"{v:.0%}") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]])
        self.setFixedHeight(120)

    def show_identities(self, rows: list[tuple[str, bool, dict[str, float | None]]]) -> None:
        """``rows``: (name, forgotten, {series: accuracy}) in display order (top first)."""
        theme_chart(self)
        self.clear()
        if not rows:
            return
        names = list(rows[0][2])
        height = 0.8 / max(len(names), 1)
        count = len(rows)
        for offset, series in enumerate(names):
            ys = [count - 1 - i + 0.4 - height * (offset + 0.5) for i in range(count)]
            values = [r[2].get(series) for r in rows]
            widths = [0.0 if v is None or math.isnan(v) else v for v in values]
            self.addItem(
                pg.BarGraphItem(
                    x0=0,
                    y=ys,
                    height=height * 0.9,
                    width=widths,
                    brush=pg.mkBrush(SERIES_COLOURS.get(series, "#9b59b6")),
                )
            )
        labels = [
            (count - 1 - i, ("✗ " if forgotten else "") + name.replace("_", " "))
            for i, (name, forgotten, _) in enumerate(rows)
        ]
        self.getAxis("left").setTicks([labels])
        fit_axis_to_labels(self.getAxis("left"), [text for _, text in labels])
        self.setYRange(-0.6, count - 0.4, padding=0)
        self.setXRange(0, 1.0, padding=0.02)
        self.setFixedHeight((self.SERIES_ROW * len(names) + self.GAP) * count + 80)  # every person, at full height

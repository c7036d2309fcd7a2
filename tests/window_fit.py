"""Open the real window (under Xvfb), fill every tab, and check at each size that nothing is cut or hidden.

Run by tests/test_window_fit.py in a subprocess under ``xvfb-run``; also usable by hand to take screenshots:

    xvfb-run -a -s "-screen 0 1920x1200x24" python tests/window_fit.py --model M.ckpt --data PEOPLE \
        --photo multiface.jpg --forget NAME --out DIR

Writes DIR/report.json ({"sizes": {"WxH": {"problems": [...], ...}}}) and DIR/WxH-TAB.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from PySide6 import QtGui
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QLabel,
    QStyle,
    QStyleOptionComboBox,
    QWidget,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's forget_desktop, not an installed one
SIZES = ((1024, 640), (1280, 720), (1366, 768))


def wait(app: QApplication, window, timeout: float = 120) -> None:
    """Until the ML thread is idle and its last results reached the window."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3 and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
        quiet = quiet + 1 if window.worker.is_idle() else 0
    app.processEvents()


def shown(widget: QWidget, window: QWidget) -> bool:
    """Visible on screen: shown, with some of it not clipped away by its ancestors."""
    return widget.isVisible() and widget.window() is window and not widget.visibleRegion().isEmpty()


def in_scroll_area(widget: QWidget) -> bool:
    """Inside the viewport of a scroll area (a table, a list, a scrolled page): it may scroll out of view."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent.parentWidget(), QAbstractScrollArea) and parent is parent.parentWidget().viewport():
            return True
        parent = parent.parentWidget()
    return False


def text_cut(widget: QWidget) -> str | None:
    """Why a label, button, combo box or spin box does not fit its widget: text cut or squeezed (None: it fits)."""
    metrics = widget.fontMetrics()
    if isinstance(widget, QLabel):
        if not widget.text().strip() or widget.pixmap() is not None and not widget.pixmap().isNull():
            return None
        if widget.wordWrap():
            need = widget.heightForWidth(widget.width())
            return f"needs {need} px of height, has {widget.height()}" if need > widget.height() + 1 else None
        if widget.textFormat() == Qt.TextFormat.PlainText or not QtGui.Qt.mightBeRichText(widget.text()):
            need = metrics.horizontalAdvance(widget.text()) + 2 * widget.margin()
            has = widget.contentsRect().width()
            return f"text needs {need} px, has {has}" if need > has else None
        hint = widget.sizeHint()
        if hint.width() > widget.width() + 1 or hint.height() > widget.height() + 1:
            return f"needs {hint.width()}×{hint.height()}, has {widget.width()}×{widget.height()}"
        return None
    if isinstance(widget, (QAbstractSpinBox, QComboBox, QAbstractButton)):
        need = widget.minimumSizeHint().height()
        if widget.height() < need - 1:
            return f"squeezed to {widget.height()} px of height, needs {need}"
    if isinstance(widget, QAbstractSpinBox):
        return None
    if isinstance(widget, QComboBox):
        option = QStyleOptionComboBox()
        widget.initStyleOption(option)
        field = widget.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, widget
        )
        need = metrics.horizontalAdvance(widget.currentText())
        return f"text needs {need} px, field has {field.width()}" if need > field.width() else None
    if isinstance(widget, QAbstractButton) and widget.text():
        text = widget.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
        need = metrics.horizontalAdvance(text)
        if isinstance(widget, QCheckBox):
            need += widget.style().pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth) + 4
        else:
            need += 2 * widget.style().pixelMetric(QStyle.PixelMetric.PM_ButtonMargin) - 4
        return f"text needs {need} px, has {widget.width()}" if need > widget.width() else None
    return None


def describe(widget: QWidget) -> str:
    text = widget.text() if isinstance(widget, (QLabel, QAbstractButton)) else ""
    if isinstance(widget, QComboBox):
        text = widget.currentText()
    name = widget.objectName() or type(widget).__name__
    return f"{name} “{text[:60]}”" if text else name


def problems(window: QWidget) -> list[str]:
    """Every visible label, button, combo box and spin box: inside its parent and the window, its text not cut,
    not squeezed below its height; and no two visible siblings on top of each other."""
    found = []
    frame = window.rect()
    kinds = (QLabel, QAbstractButton, QComboBox, QAbstractSpinBox)
    controls = [w for w in window.findChildren(QWidget) if isinstance(w, kinds)]
    for widget in controls:
        if not widget.isVisible() or widget.window() is not window:
            continue
        if type(widget).__name__ in {"QToolButton", "QDockWidgetTitleButton"}:
            continue
        parent = widget.parentWidget()
        place = QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())
        if not in_scroll_area(widget):
            seen = widget.visibleRegion().boundingRect()
            if seen != widget.rect():
                found.append(f"{describe(widget)} is clipped: {seen.width()}×{seen.height()} of it shows")
            if not frame.contains(place):
                found.append(f"{describe(widget)} lies outside the window ({place.getRect()})")
            elif not parent.rect().contains(widget.geometry()):
                found.append(f"{describe(widget)} sticks out of its parent {describe(parent)}")
        why = text_cut(widget)
        if why:
            found.append(f"{describe(widget)} is cut: {why}")
    found += overlaps(window)
    return found


def overlaps(window: QWidget) -> list[str]:
    """Visible siblings laid out on top of each other (a squeezed layout), anywhere in the window."""
    found = []
    for parent in [window, *window.findChildren(QWidget)]:
        layout = parent.layout()
        if layout is None or not shown(parent, window) and parent is not window:
            continue
        children = [
            c
            for c in parent.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
            if c.isVisible() and layout.indexOf(c) >= 0
        ]
        for i, a in enumerate(children):
            for b in children[i + 1 :]:
                common = a.geometry().intersected(b.geometry())
                if common.width() > 2 and common.height() > 2:
                    found.append(f"{describe(a)} and {describe(b)} overlap by {common.width()}×{common.height()} px")
    return found


def fully_visible(widget: QWidget) -> bool:
    """Shown whole, nothing of it scrolled or clipped away (a chart: its viewport, where it draws)."""
    if isinstance(widget, QAbstractScrollArea):
        widget = widget.viewport()
    return widget.isVisible() and widget.visibleRegion().boundingRect() == widget.rect()


def label_overflow(axis) -> bool:
    """Whether a tick label of this (pyqtgraph, vertical) axis is wider than the axis, and so drawn cut off."""
    metrics = QtGui.QFontMetrics(axis.style.get("tickFont") or axis.font())
    labels = [text for level in axis._tickLevels or [] for _, text in level]  # the ticks set with setTicks
    return any(metrics.horizontalAdvance(text) + axis.style["tickTextOffset"][0] > axis.width() for text in labels)


def drawn_ticks(axis) -> list[str]:
    """The tick labels a pyqtgraph axis draws (those it hides for lack of room left out)."""
    image = QtGui.QImage(8, 8, QtGui.QImage.Format.Format_ARGB32)
    painter = QtGui.QPainter(image)
    specs = axis.generateDrawSpecs(painter)
    painter.end()
    return [text for _, _, text in specs[2]] if specs else []


def export_facts(window, out: Path) -> dict:
    """The exported PNG of the results: its headline, size and the per-person axis labels it shows."""
    from forget_desktop.ui.results_view import export_headline

    results = window.results
    if results.report is None:
        return {}
    results.save_png(out / "results-export.png")
    image = QtGui.QImage(str(out / "results-export.png"))
    return {
        "headline": export_headline(results.report, results.model_name),
        "size": [image.width(), image.height()],
        "person_ticks": drawn_ticks(results.identity_chart.getAxis("bottom")),
        "person_names": drawn_ticks(results.identity_chart.getAxis("left")),
    }


def facts(window) -> dict:
    """What a user would notice besides cut text: the charts and the Person column."""
    table = window.identities.table
    names = [window.identities.proxy.index(r, 0) for r in range(window.identities.proxy.rowCount())]
    person_needs = max((table.sizeHintForColumn(0) for _ in names[:1]), default=0)
    view = window.recognise.frame_view
    tags = view.layout_tags() if view.isVisible() else []
    return {
        "tab": window.tabs.tabText(window.tabs.currentIndex()),
        "tags": [text for _, _, text in tags],
        "tags_on_other_faces": sum(
            tag.intersects(other)
            for i, (_, tag, _) in enumerate(tags)
            for j, (other, _, _) in enumerate(tags)
            if i != j
        ),
        "tags_on_tags": sum(a.intersects(b) for i, (_, a, _) in enumerate(tags) for (_, b, _) in tags[i + 1 :]),
        "top5_axis_fits": not label_overflow(window.recognise.top_chart.getAxis("left")),
        "identity_axis_fits": not label_overflow(window.results.identity_chart.getAxis("left")),
        "privacy_chart_visible": fully_visible(window.results.privacy_chart),
        "accuracy_chart_visible": fully_visible(window.results.accuracy_chart),
        "identity_chart_width": window.results.identity_chart.width(),
        "person_column": table.columnWidth(0),
        "history_people_column": window.history.table.columnWidth(2),
        "history_people_needs": window.history.table.sizeHintForColumn(2),
        "person_column_needs": person_needs,
        "identities_visible": window.identities.isVisible(),
        "forget_visible": window.forget_panel.isVisible(),
    }


def check(app: QApplication, window, out: Path, sizes=SIZES) -> dict:
    """Every size, every tab: problems, facts and a screenshot."""
    report = {}
    for width, height in sizes:
        window.resize(width, height)
        for _ in range(5):
            app.processEvents()
            time.sleep(0.02)
        size = f"{width}x{height}"
        report[size] = {"window": [window.width(), window.height()], "tabs": {}}
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            for _ in range(3):
                app.processEvents()
            tab = window.tabs.tabText(index).lower().replace(" ", "-")
            report[size]["tabs"][tab] = {"problems": problems(window), **facts(window)}
            window.grab().save(str(out / f"{size}-{tab}.png"))
        window.tabs.setCurrentIndex(0)
        report[size]["methods"] = methods_fit(app, window, out / f"{size}-method")
    return report


def methods_fit(app: QApplication, window, shots: Path | None = None) -> dict[str, list[str]]:
    """The problems with each method chosen in the Forget panel (its summary and options differ in length), with
    its options folded (then the Forget button must show whole, without scrolling the panel) and open; with
    ``shots``, a screenshot of each (``<shots>-<method>.png``, and ``<shots>-<method>-options.png`` open)."""
    panel = window.forget_panel
    box = panel.method_box
    chosen, found = box.currentIndex(), {}

    def settle() -> None:
        for _ in range(3):
            app.processEvents()

    for row in range(box.count()):
        if not box.model().item(row).isEnabled():
            continue
        method = box.itemData(row)
        box.setCurrentIndex(row)
        panel.options_toggle.setChecked(False)
        settle()
        found[method] = problems(window)
        if not fully_visible(panel.run_button):
            found[method].append("the Forget button is not shown whole without scrolling the panel")
        if shots is not None:
            window.grab().save(f"{shots}-{method}.png")
        if panel.options_box.isVisible():
            panel.options_toggle.setChecked(True)
            settle()
            found[method] += [f"options open: {problem}" for problem in problems(window)]
            if shots is not None:
                window.grab().save(f"{shots}-{method}-options.png")
            panel.options_toggle.setChecked(False)
    box.setCurrentIndex(chosen)
    settle()
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--photo", required=True)
    parser.add_argument("--forget", default="")
    parser.add_argument("--no-reference", action="store_true", help="forget without the retrained reference")
    parser.add_argument("--out", required=True)
    parser.add_argument("--settings", help="settings file to use (default: a fresh one)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import torch

    from forget_desktop.core.app.workspace import Workspace
    from forget_desktop.ui.main_window import MainWindow
    from forget_desktop.ui.settings import AppSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    private = Path(tempfile.mkdtemp(prefix="window-fit-"))
    settings = AppSettings(args.settings or private / "settings.ini")
    device = torch.device("cpu")
    window = MainWindow(settings, device, None, Workspace(device, models_dir=private / "models"))
    window.show()
    started = time.monotonic()
    timings = {}
    window.models.open_model(args.model)
    window.models.open_data(args.data)
    wait(app, window)
    timings["open"] = time.monotonic() - started
    window.sources.open_files([args.photo])
    deadline = time.monotonic() + 60
    while window.recognise.frame_view.image is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
    wait(app, window)
    timings["photo"] = time.monotonic() - started
    if args.forget:
        window.forgetting.run_forget(None, {}, not args.no_reference, names=args.forget.split(","))
        wait(app, window, 300)
        timings["forget"] = time.monotonic() - started
    result = {
        "platform": app.platformName(),
        "faces": len(window.recognise.frame_view.faces),
        "report": window.results.report is not None,
        "sizes": check(app, window, out),
    }
    window.resize(1280, 720)
    window.tabs.setCurrentWidget(window.results)
    for _ in range(5):
        app.processEvents()
    result["export"] = export_facts(window, out)
    timings["checked"] = time.monotonic() - started
    result["timings"] = timings
    window.close()
    window.worker.stop()
    (out / "report.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

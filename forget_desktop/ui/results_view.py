"""Results: before/after charts against the retrained reference, per identity, with exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QRect, Qt
from PySide6.QtGui import QFont, QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from ..core.common.atomic import write_bytes, write_json
from ..core.common.jobs import plural, short_seconds
from ..core.unlearning import method_title
from ..core.unlearning.report import ForgetReport
from .charts import GroupedBars, IdentityBars, legend_html
from .flow_layout import FlowLayout, group
from .photo_proof import PhotoProofChart

RATIO_FLOOR = 0.1  # seconds: a reference retrain shorter than this is timing noise as a ratio's denominator (a
# 6-person gallery's, 0.002 s, made an exact forget of 0.02 s "8.46× a retrain's time")

ACCURACY = (
    ("forget_train_acc", "forget-train"),
    ("forget_test_acc", "forget-test"),
    ("retain_test_acc", "retain-test"),
)
NARROW = 600  # below this width the accuracy and privacy charts are stacked
CHART_HEIGHT = 220
TEXT_FLAGS = int(Qt.AlignmentFlag.AlignLeft) | int(Qt.TextFlag.TextWordWrap)
PRIVACY = (("mia_auc", "MIA AUC"), ("probe_acc", "probe"), ("named_as_other", "named other"))


def report_rows(report: ForgetReport) -> list[list]:
    """Flat rows (model, metric, identity, value) for CSV export."""
    rows = [["model", "metric", "identity", "value"]]
    for model, scores in report.scores().items():
        for key, value in scores.to_dict().items():
            if key == "per_identity":
                for name, values in value.items():
                    rows += [[model, metric, name, v] for metric, v in values.items()]
            elif not isinstance(value, (dict, list)):
                rows.append([model, key, "", value])
    rows += [
        ["job", key, "", getattr(report, key)]
        for key in ("method", "scope", "seconds", "reference_seconds", "time_ratio", "device")
    ]
    mia = report.per_photo_mia or {}
    rows += [[model, "per_photo_mia_auc", "", mia[model]] for model in report.scores() if mia.get(model) is not None]
    return rows


def exactness(report: ForgetReport) -> str:
    """The first words of the headline: whether the result is exact, and the proof."""
    identical = report.identical_to_reference
    if identical is None:
        if report.baseline:
            return "<b>A baseline</b>, shown for comparison: it does not claim to forget. "
        return "<b>Exact</b> (a retrain). " if report.exact else "Approximate: judged against the reference below. "
    comparison = report.reference_comparison or {}
    if identical:
        return (
            f"<b>Exact: identical to a model retrained without them</b> (all {comparison.get('tensors', '?')} "
            "tensors compared, bit for bit). "
        )
    return (
        f"<b style='color:#c0392b'>Not identical to the retrained reference</b> "
        f"({len(comparison.get('different', []))} tensors differ). "
    )


def _share(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.0%}"


PRIVACY_NOTES = (
    "<b>MIA AUC</b>: how well a membership attack tells their training photos from photos the model never saw "
    "(0.5: it cannot tell). The reference shows what a model that never saw them gives.",
    "<b>Probe</b> (embedding leakage): how often their unseen photo's nearest training photo, by the model's "
    "features, is their own. It stays high even for the retrained reference when the backbone's features — "
    "pretrained on millions of faces — already tell people apart: unlearning removes what this app learned, "
    "not what the backbone knew before.",
    "<b>Named other</b>: their photos that the app would name as someone else (a look-alike) instead of Unknown.",
)


def privacy_title(scope: str) -> str:
    """The privacy charts' title: they test the forgotten people, or the forgotten photos."""
    return f"Privacy checks (on the forgotten {'photos' if scope == 'photos' else 'people'})"


def chart_title(text: str, tip: str) -> QLabel:
    label = QLabel(f"<b>{text}</b>")
    label.setToolTip(tip)
    return label


class ResultsView(QWidget):
    """Shows the latest forget report; exports it as PNG, CSV and JSON."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.report: ForgetReport | None = None
        self.model_sha256: str | None = None  # the model the report describes
        self.model_name = ""
        self.about = QLabel()  # which model it describes, and whether that is still the model in use
        self.about.setWordWrap(True)
        self.headline = QLabel("Run a forget job to see before and after.")
        self.headline.setWordWrap(True)
        self.legend = QLabel()
        accuracy_tip = (
            "Share of photos named correctly. On the forgotten people's photos a high bar means they are "
            "still remembered."
        )
        privacy_tip = "The closer to the retrained reference, the better."
        self.accuracy_chart = GroupedBars("accuracy")
        self.accuracy_chart.setToolTip(accuracy_tip)
        self.privacy_chart = GroupedBars("value")
        self.privacy_chart.setToolTip(privacy_tip)
        self.privacy_notes = QLabel("<br>".join(PRIVACY_NOTES))
        self.privacy_notes.setWordWrap(True)
        self.photo_proof = PhotoProofChart()
        self.photo_proof.setToolTip(
            "The per-photo membership test (LiRA): each forgotten photo's score, for each model; the closer the "
            "unlearned model's distribution to the reference's, the better"
        )
        self.identity_chart = IdentityBars()
        self.export_png = QPushButton("Charts (PNG)…")
        self.export_csv = QPushButton("Metrics (CSV)…")
        self.export_json = QPushButton("Report (JSON)…")
        self.export_png.setToolTip("Export the charts as one PNG image (every person included)")
        self.export_csv.setToolTip("Export every metric, before and after, as a CSV table")
        self.export_json.setToolTip("Export the whole job report as JSON")
        self.erasure = QLabel()
        self.erasure.setWordWrap(True)
        self.erase_photos = QPushButton("Delete their photos…")
        self.erase_photos.setToolTip("Delete the forgotten people's source photos from the folder (asks first)")
        self.delete_versions = QPushButton("Models that still know them…")
        self.delete_versions.setToolTip("Every model file the app has seen that still recognises them, to delete")
        for button in (self.export_png, self.export_csv, self.export_json, self.erase_photos, self.delete_versions):
            button.setEnabled(False)
        buttons = FlowLayout()  # one row where there is room, two where there is not
        buttons.add_widgets(
            group(QLabel("Export:"), self.export_png, self.export_csv, self.export_json),
            group(QLabel("Erase:"), self.erase_photos, self.delete_versions),
        )
        self.accuracy_title = chart_title("Accuracy", accuracy_tip)
        self.privacy_title = chart_title(privacy_title("people"), privacy_tip)
        for chart in (self.accuracy_chart, self.privacy_chart):
            chart.setFixedHeight(CHART_HEIGHT)
        self.pair = QGridLayout()  # the accuracy and privacy charts: side by side, or one above the other
        self.pair.setContentsMargins(0, 0, 0, 0)
        self.narrow: bool | None = None
        self._arrange(narrow=False)
        self.proof_title = chart_title(
            "Proof photo by photo (per-photo membership test)", "LiRA with shadow models, beside the reference"
        )
        self.charts = QWidget()  # everything that scrolls: one scroll bar for the page, none inside it
        page_layout = QVBoxLayout(self.charts)
        page_layout.setContentsMargins(0, 0, 4, 0)
        for widget in (self.about, self.headline, self.legend):
            page_layout.addWidget(widget)
        page_layout.addLayout(self.pair)
        page_layout.addWidget(self.privacy_notes)
        page_layout.addWidget(chart_title("Per person (held-out accuracy)", "Forgotten people first, marked ✗"))
        page_layout.addWidget(self.identity_chart)
        page_layout.addWidget(self.proof_title)
        page_layout.addWidget(self.photo_proof)
        page_layout.addWidget(self.erasure)
        page_layout.addStretch(1)
        page = QScrollArea()  # a small window scrolls the page instead of squeezing the charts
        page.setWidgetResizable(True)
        page.setFrameShape(QScrollArea.Shape.NoFrame)
        page.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        page.setWidget(self.charts)
        self.page = page
        layout = QVBoxLayout(self)
        layout.addWidget(page, 1)
        layout.addLayout(buttons)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._arrange(self.width() < NARROW)

    def _arrange(self, narrow: bool) -> None:
        """Wide: the accuracy and privacy charts side by side (both in view at 1280×720). Narrow: stacked."""
        if narrow == self.narrow:
            return
        self.narrow = narrow
        parts = (self.accuracy_title, self.accuracy_chart, self.privacy_title, self.privacy_chart)
        for widget in parts:
            self.pair.removeWidget(widget)
        for index, widget in enumerate(parts):
            row, column = (index, 0) if narrow else (index % 2, index // 2)
            self.pair.addWidget(widget, row, column)
        self.pair.setColumnStretch(1, 0 if narrow else 1)
        self.pair.setColumnStretch(0, 1)

    def show_report(self, report: ForgetReport, model_name: str = "", model_sha256: str | None = None) -> None:
        """Show a forget report; ``model_name`` / ``model_sha256``: the model it describes."""
        self.report, self.model_sha256, self.model_name = report, model_sha256, model_name
        scores = report.scores()
        title = method_title(report.method)
        timing = f"{title} took {short_seconds(report.seconds)} on {report.device}"
        if report.reference_seconds:
            timing += f"; retraining the reference took {short_seconds(report.reference_seconds)}"
            if report.reference_seconds >= RATIO_FLOOR:
                timing += f" ({title}: {report.seconds / report.reference_seconds:.2f}× a retrain's time)"
        after = report.unlearned
        who = ", ".join(n.replace("_", " ") for n in report.forget)
        if report.scope == "photos":
            self.headline.setText(
                f"<b>Forgot {plural(report.photos, 'photo')} of {who}.</b> "
                f"{exactness(report)}{timing}. The forgotten photos are named correctly "
                f"{_share(after.forget_train_acc)} "
                f"of the time (reference: {_share(report.reference.forget_train_acc if report.reference else None)}); "
                f"{who} {'is' if len(report.forget) == 1 else 'are'} still recognised on "
                f"{_share(after.forget_test_acc)} of their other unseen photos, everyone else on "
                f"{after.retain_test_acc:.1%}."
            )
        else:
            self.headline.setText(
                f"<b>Forgot {who}.</b> {exactness(report)}{timing}. "
                f"Forgotten people are now recognised on {after.forget_test_acc:.0%} of their unseen photos and "
                f"named as someone else on {_share(after.named_as_other)} of their photos; everyone else is "
                f"recognised on {after.retain_test_acc:.1%}."
            )
        self.privacy_title.setText(f"<b>{privacy_title(report.scope)}</b>")
        self.photo_proof.show_mia(report.per_photo_mia)
        self.legend.setText(legend_html(list(scores)))
        self.accuracy_chart.show_groups(
            [label for _, label in ACCURACY], {m: [getattr(s, k) for k, _ in ACCURACY] for m, s in scores.items()}
        )
        self.privacy_chart.show_groups(
            [label for _, label in PRIVACY],
            {m: [getattr(s, k) for k, _ in PRIVACY] for m, s in scores.items()},
            fmt="{:.2f}",
        )
        forgotten = set(report.forget)
        names = sorted(report.original.per_identity, key=lambda n: (n not in forgotten, n))
        self.identity_chart.show_identities(
            [
                (name, name in forgotten, {m: s.per_identity.get(name, {}).get("test_acc") for m, s in scores.items()})
                for name in names
            ]
        )
        erased = report.erased
        if erased is not None:
            self.erasure.setText(
                f"Erased {erased.cached_crops} cached face crops"
                + (f" and {erased.cached_embeddings} cached embeddings" if erased.cached_embeddings else "")
                + " derived from their photos. "
                + (
                    f"{erased.photos} of their source photos were deleted from the folder."
                    if erased.photos
                    else "Their source photos are still in the folder."
                )
            )
        else:
            self.erasure.setText("")
        for button in (self.export_png, self.export_csv, self.export_json, self.delete_versions):
            button.setEnabled(True)
        self.erase_photos.setEnabled(not (erased and erased.photos))
        self.set_model_in_use(model_sha256)

    def set_model_in_use(self, sha256: str | None) -> None:
        """Say which model the results describe, and mark them out of date when another is in use."""
        if self.report is None:
            self.about.setText("")
            return
        name = self.model_name or "the unlearned model"
        request = f" (forget request {self.report.request_id})" if self.report.request_id else ""
        if sha256 is not None and sha256 == self.model_sha256:
            self.about.setText(f"These results describe {name}{request}, the model in use.")
        else:
            self.about.setText(
                f"<b style='color:#b9770e'>Out of date:</b> these results describe {name}{request}, which is "
                + ("no longer the model in use." if sha256 else "not open now.")
            )

    def photos_erased(self, erased) -> None:
        """Their photos were deleted: the erasure line says so, and the button is done."""
        self.erasure.setText(
            self.erasure.text().replace(
                "Their source photos are still in the folder.",
                f"Their {erased.photos} source photos were deleted from the folder.",
            )
        )
        self.erase_photos.setEnabled(False)

    def export_image(self) -> QImage:
        """A headline (who was forgotten, from which model, when), the legend, then the accuracy and privacy
        charts with their notes and the per-photo proof on the left, and the per-person chart (every person,
        at full height) on the right."""
        charts = [self.accuracy_chart, self.privacy_chart, self.privacy_notes, self.photo_proof]
        titles = (
            "Accuracy",
            privacy_title(self.report.scope if self.report else "people"),
            "",
            "Proof photo by photo",
            "",
        )
        parts = [widget.grab() for widget in charts if widget.isVisibleTo(self)]
        titles = [t for t, widget in zip(titles, charts) if widget.isVisibleTo(self)]
        people = self.identity_chart.grab()
        left = max(p.width() for p in parts)
        width = left + people.width() + 32
        bold = QFont(self.font())
        bold.setBold(True)
        big = QFont(bold)
        big.setPointSizeF(bold.pointSizeF() * 1.3)
        line = QFontMetrics(bold).height() + 6
        headline = export_headline(self.report, self.model_name) if self.report else ""
        head_height = QFontMetrics(big).boundingRect(0, 0, width - 16, 1000, TEXT_FLAGS, headline).height() + 8
        legend = self.legend.grab()
        top = 8 + head_height + legend.height() + 8
        left_height = sum(p.height() for p in parts) + line * len([t for t in titles if t])
        height = top + max(left_height, people.height() + line)
        image = QImage(width, height + 16, QImage.Format.Format_RGB32)
        image.fill(self.palette().color(QPalette.ColorRole.Window))
        painter = QPainter(image)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.setFont(big)
        painter.drawText(QRect(8, 8, width - 16, head_height), TEXT_FLAGS, headline)
        painter.setFont(bold)
        painter.drawPixmap(8, 8 + head_height, legend)
        y = top
        for title, part in zip(titles, parts):
            if title:
                painter.drawText(8, y + line - 6, title)
                y += line
            painter.drawPixmap(8, y, part)
            y += part.height()
        painter.drawText(left + 24, top + line - 6, "Per person (held-out accuracy)")
        painter.drawPixmap(left + 24, top + line, people)
        painter.end()
        return image

    def save_png(self, path: str | Path) -> None:
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self.export_image().save(buffer, "PNG")
        write_bytes(path, bytes(buffer.data()))

    def save_csv(self, path: str | Path) -> None:
        text = io.StringIO()
        csv.writer(text).writerows(report_rows(self.report))
        write_bytes(path, text.getvalue().encode("utf-8"))

    def save_json(self, path: str | Path) -> None:
        write_json(path, self.report.to_dict())


def export_headline(report: ForgetReport, model_name: str = "") -> str:
    """The exported image's first line: who was forgotten, from which model into which, by what, and when."""
    who = ", ".join(n.replace("_", " ") for n in report.forget)
    if report.scope == "photos":
        who = f"{plural(report.photos, 'photo')} of {who}"
    source = Path(report.model).name if report.model else "the model"
    into = model_name or (Path(report.output_model).name if report.output_model else "")
    when = report.created.replace("T", " ")[:16] if report.created else "an unknown time"
    request = f", forget request {report.request_id}" if report.request_id else ""
    method = method_title(report.method)
    return f"Forgot {who} from {source}" + (f" into {into}" if into else "") + f" ({method}), {when}{request}"

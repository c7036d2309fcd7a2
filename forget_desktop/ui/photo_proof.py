"""Results' per-photo proof: the distribution of the per-photo membership scores (LiRA) of the forgotten
photos for the original, the unlearned model and the reference, with one sentence saying what it means."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .charts import SERIES_COLOURS, theme_chart

ROLES = ("original", "unlearned", "reference")
BINS = 24


def proof_sentence(mia: dict | None) -> str:
    """One sentence on what the per-photo test shows (or why there is none)."""
    if not mia:
        return "No per-photo membership test was run for this request."
    unlearned, reference, original = mia.get("unlearned"), mia.get("reference"), mia.get("original")
    if unlearned is None:
        return "The per-photo test could not score these photos."
    base = (
        f"Per photo, a likelihood-ratio attack ({mia.get('shadows', '?')} shadow models) tells the "
        f"{mia.get('forgotten_photos', '?')} forgotten training photos from {mia.get('against', 'unseen photos')} "
        f"with AUC {unlearned:.2f} after forgetting" + (f" (before: {original:.2f})" if original is not None else "")
    )
    if reference is None:
        return base + "; 0.5 would mean it cannot tell them apart (no retrained reference was made to compare)."
    gap = unlearned - reference
    verdict = (
        "as well as it can for a model that never saw them"
        if abs(gap) <= 0.03
        else ("better than for" if gap > 0 else "worse than for") + " a model that never saw them"
    )
    return (
        f"{base}, against {reference:.2f} for the retrained reference: the model hides which photos it forgot "
        f"{verdict}. 0.5 means the attack cannot tell them apart; each photo's score, plotted here, is how much "
        "likelier its model's confidence is if the model trained on the photo (right) than if not (left)."
    )


class PhotoProofChart(QWidget):
    """Step histograms of the forgotten photos' scores per judged model (and, dotted, the scores of the
    unseen photos they are told from, under the reference)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        theme_chart(self.plot)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.getPlotItem().setLabel("bottom", "membership score (log likelihood ratio)")
        self.plot.getPlotItem().setLabel("left", "share of photos")
        for name in ("left", "bottom"):
            self.plot.getAxis(name).enableAutoSIPrefix(False)
        self.plot.setFixedHeight(200)
        self.sentence = QLabel()
        self.sentence.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        layout.addWidget(self.sentence)
        self.shown: dict[str, np.ndarray] = {}

    def show_mia(self, mia: dict | None) -> None:
        theme_chart(self.plot)
        self.plot.clear()
        self.sentence.setText(proof_sentence(mia))
        self.shown = {}
        photos = (mia or {}).get("photos") or []
        series = {
            role: np.array([p[role] for p in photos if p.get(role) is not None], dtype=float)
            for role in ROLES
            if any(p.get(role) is not None for p in photos)
        }
        unseen = (mia or {}).get("unseen") or {}
        baseline = unseen.get("reference") or unseen.get("unlearned")
        values = [v for v in series.values() if len(v)]
        if baseline:
            values.append(np.array(baseline, dtype=float))
        if not values:
            self.plot.hide()
            return
        self.plot.show()
        everything = np.concatenate(values)
        low, high = np.percentile(everything, [1, 99])
        if not math.isfinite(low) or high <= low:
            low, high = float(everything.min()) - 1, float(everything.max()) + 1
        edges = np.linspace(low, high, BINS + 1)
        if baseline:
            counts, _ = np.histogram(np.clip(baseline, low, high), edges)
            self.plot.plot(
                edges,
                counts / max(len(baseline), 1),
                stepMode="center",
                pen=pg.mkPen(SERIES_COLOURS["reference"], width=1, style=pg.QtCore.Qt.PenStyle.DotLine),
            )
            self.shown["unseen"] = counts
        for role, scores in series.items():
            counts, _ = np.histogram(np.clip(scores, low, high), edges)
            self.plot.plot(
                edges,
                counts / max(len(scores), 1),
                stepMode="center",
                pen=pg.mkPen(SERIES_COLOURS.get(role, "#9b59b6"), width=2 if role != "original" else 1),
            )
            self.shown[role] = counts
        self.plot.getPlotItem().setTitle(
            "AUC " + " · ".join(f"{role[:3]}. {mia[role]:.2f}" for role in ROLES if mia.get(role) is not None),
            size="9pt",
        )

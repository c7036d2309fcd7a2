"""The jobs that forget — people ticked in the Identities panel, photos ticked in its grid or taken from the
outlier list — and the reads that fill those lists. Their progress shows in the Forget panel and their
reports in Results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..core.app.workspace import shown
from ..core.common.jobs import duration, plural, short_seconds
from ..core.unlearning import method_title
from .worker import Job

if TYPE_CHECKING:
    from .main_window import MainWindow

BUSY = "Another job is running; wait for it or cancel it (Esc) first."


def forgot_sentence(result, seconds: float) -> str:
    """How a forget job ended, for the status line and the Forget panel (``result[0]`` is its report)."""
    report = result[0]
    what = shown(report.forget)
    if report.scope == "photos":
        what = f"{plural(report.photos, 'photo')} of {what}"
    reference = (
        f"; the reference retrain: {short_seconds(report.reference_seconds)}" if report.reference_seconds else ""
    )
    itself = short_seconds(report.seconds)
    return f"Forgot {what} in {duration(seconds)} in all ({method_title(report.method)} itself: {itself}{reference})"


class ForgetController:
    """See the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.chosen: list[str] = []  # the people ticked in the Identities panel
        identities = window.identities
        identities.chosen_changed.connect(self._chosen_changed)
        identities.person_selected.connect(self.show_person_photos)
        identities.photos.forget_requested.connect(self.run_forget_photos)
        identities.outliers.find_requested.connect(self.find_outliers)
        identities.outliers.forget_requested.connect(self.run_forget_photos)
        identities.outliers.move_requested.connect(self.move_photos)
        identities.outliers.keep_requested.connect(self.keep_photos)
        window.forget_panel.run_requested.connect(self._forget_requested)

    def _chosen_changed(self, names: list[str]) -> None:
        self.chosen = names
        self.window.forget_panel.set_chosen(names)

    def _forget_requested(self, method: str, options: dict, reference: bool) -> None:
        """The Forget button or Ctrl+R: one job at a time."""
        if self.window.worker.busy:
            self.window.show_error(BUSY)
            return
        self.run_forget(method, options, reference)

    def _show_report(self, report, view) -> None:
        self.window.results.show_report(
            report, Path(report.output_model).name, view.model.sha256 if view.model else None
        )

    # --- people -----------------------------------------------------------------------------------
    def run_forget(
        self, method: str | None, options: dict, reference: bool, names: list[str] | None = None
    ) -> Job | None:
        window, workspace = self.window, self.window.workspace
        names = list(self.chosen if names is None else names)
        if not names:
            window.show_error("Tick the people to forget in the Identities panel first.")
            return None
        if method:  # the method chosen, as if picked in the panel: kept after the job and on the next launch
            window.forget_panel.choose(method)

        def run(progress):
            report = workspace.forget(names, method, options, reference, progress)
            return report, workspace.view()

        def done(result) -> None:
            report, view = result
            self._show_report(report, view)
            window.identities.clear_choice()
            window.tabs.setCurrentWidget(window.results)
            window.render(view)
            window.records.refresh_history()

        title = f"Forgetting {shown(names)}"
        return window.run(window.forget_panel.watch(Job(title, run, done, finished_text=forgot_sentence)))

    # --- photos, and the photos that do not belong ----------------------------------------------
    def show_person_photos(self, name: str) -> Job:
        """Fill the photo grid with one person's photos (a snapshot made on the ML thread)."""
        workspace, grid = self.window.workspace, self.window.identities.photos
        return self.window.run(
            Job(
                f"Reading the photos of {name.replace('_', ' ')}",
                lambda _progress: workspace.person_photos(name),
                lambda tiles: grid.show_photos(name, list(tiles)),
                quiet=True,
            )
        )

    def photo_options(self) -> dict:
        """The Forget panel's options that the user changed: the others stay as the method's recipe for
        forgetting photos says (``photos.PHOTO_OPTIONS``)."""
        return self.window.forget_panel.changed_options()

    def run_forget_photos(
        self, paths: list[str], method: str | None = None, reference: bool | None = None
    ) -> Job | None:
        """Forget these photos (their people stay known) with the Forget panel's method: the same job,
        progress, cancel, records and erasure as forgetting people."""
        window, workspace, panel = self.window, self.window.workspace, self.window.forget_panel
        if not paths:
            window.show_error("Tick the photos to forget first (choose a person, then tick their photos).")
            return None
        if window.worker.busy:
            window.show_error(BUSY)
            return None
        method = method or panel.method
        options = self.photo_options() if method == panel.method else {}
        reference = panel.reference.isChecked() if reference is None else reference
        person = window.identities.photos.person

        def run(progress):
            report = workspace.forget_photos([Path(p) for p in paths], method, options, reference, progress)
            tiles = workspace.person_photos(person) if person else ()
            return report, workspace.view(), tiles

        def done(result) -> None:
            report, view, tiles = result
            self._show_report(report, view)
            window.tabs.setCurrentWidget(window.results)
            window.render(view)
            if person:
                window.identities.photos.show_photos(person, list(tiles))
            self._drop_outliers(set(paths))
            window.records.refresh_history()

        title = f"Forgetting {plural(len(paths), 'photo')}"
        return window.run(panel.watch(Job(title, run, done, finished_text=forgot_sentence)))

    def find_outliers(self, top: int = 50) -> Job:
        """Rank the open folder's photos by how little they belong; the list shows the reasons."""
        workspace, identities = self.window.workspace, self.window.identities

        def run(progress):
            rows = workspace.outlier_rows(top, progress)
            return rows, list(workspace.checkpoint.classes)

        def done(result) -> None:
            rows, people = result
            identities.outliers.show_rows(list(rows), people)
            identities.lower.setCurrentWidget(identities.outliers)

        return self.window.run(Job("Finding the photos that do not belong", run, done))

    def move_photos(self, paths: list[str], person: str) -> Job | None:
        """Forget photos filed under the wrong person, then file them under ``person``."""
        window, workspace = self.window, self.window.workspace
        if not paths or not person:
            window.show_error("Select the photos to move and the person they show.")
            return None
        if window.worker.busy:
            window.show_error(BUSY)
            return None
        method = window.forget_panel.method

        def run(progress):
            report, moved = workspace.move_photos([Path(p) for p in paths], person, method, progress)
            return report, moved, workspace.view()

        def done(result) -> None:
            report, moved, view = result
            self._show_report(report, view)
            window.render(view)
            self._drop_outliers(set(paths))
            window.records.refresh_history()
            window.statusBar().showMessage(
                f"Forgot {plural(len(moved), 'photo')} from {', '.join(report.forget)} and moved "
                f"{'it' if len(moved) == 1 else 'them'} to {person.replace('_', ' ')}'s folder: a model trained on "
                "the folder learns them as that person.",
                12000,
            )

        title = f"Moving {len(paths)} photo(s) to {person.replace('_', ' ')}"
        return window.run(window.forget_panel.watch(Job(title, run, done)))

    def keep_photos(self, digests: list[str]) -> Job | None:
        """The user keeps these photos: remembered in the records, and gone from the list."""
        if not digests:
            return None
        window, workspace, outliers = self.window, self.window.workspace, self.window.identities.outliers

        def run(_progress):
            workspace.keep_photos(digests)
            return len(digests)

        def done(count) -> None:
            kept = set(digests)
            outliers.show_rows([r for r in outliers.rows if r.sha256 not in kept], self._outlier_people())
            window.statusBar().showMessage(f"Kept {plural(count, 'photo')}: they are not listed again.", 8000)

        return window.run(Job("Keeping photos", run, done))

    def _outlier_people(self) -> list:
        box = self.window.identities.outliers.person_box
        return [box.itemData(i) for i in range(box.count())]

    def _drop_outliers(self, paths: set[str]) -> None:
        outliers = self.window.identities.outliers
        if outliers.rows:
            outliers.show_rows([r for r in outliers.rows if r.path not in paths], self._outlier_people())

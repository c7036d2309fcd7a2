"""The jobs on the records — the forget history, certificates, letting people back in, deleting their
photos and the models that still know them, and the audit log — for the Forget history, Audit and Results
tabs. The records belong to the ML thread: every read and write is a job there."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox

from ..core.app.workspace import shown
from ..core.common.errors import ForgetError
from ..core.common.jobs import plural
from .worker import Job

if TYPE_CHECKING:
    from .main_window import MainWindow


class RecordsController:
    """See the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        history, results = window.history, window.results
        history.results_requested.connect(self.show_request)
        history.certificate_requested.connect(self.export_certificate)
        history.erase_photos_requested.connect(lambda rid: self.erase_photos(self.request_people(rid)))
        history.models_requested.connect(lambda rid: self.delete_models_knowing(self.request_people(rid)))
        history.let_back_requested.connect(self.let_back_in)
        window.audit.hash_names_changed.connect(self.set_hash_names)
        window.audit.export_requested.connect(self.export_audit)
        results.erase_photos.clicked.connect(lambda: results.report and self.erase_photos(list(results.report.forget)))
        results.delete_versions.clicked.connect(
            lambda: results.report and self.delete_models_knowing(list(results.report.forget))
        )

    # --- the audit log --------------------------------------------------------------------------
    def read_audit(self, at_launch: bool = False) -> Job:
        """Read the audit log on the ML thread (it owns the records) into the Audit tab; ``at_launch``, a log
        that was edited or cut short is reported at once."""
        window, workspace = self.window, self.window.workspace

        def shown(result) -> None:
            entries, problems = result
            window.audit.show_entries(list(entries), list(problems))
            if problems and at_launch:
                window.show_error("The audit log was changed outside the app: " + " ".join(problems))

        return window.run(Job("Reading the audit log", lambda _progress: workspace.audit.entries(), shown, quiet=True))

    def set_hash_names(self, value: bool) -> Job:
        """Kept in the records, on the ML thread between jobs: a job never sees the setting change midway."""
        self.window.settings.hash_names = value
        workspace = self.window.workspace

        def run(_progress) -> None:
            workspace.records.hash_names = value

        return self.window.run(Job("Saving how names are written", run, quiet=True))

    def export_audit(self, path: str | None = None) -> Job | None:
        window = self.window
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                window,
                "Export audit log",
                str(Path(window.settings.last_folder) / "forget-audit.jsonl"),
                "JSON lines (*.jsonl)",
            )
        if not path:
            return None
        workspace = window.workspace
        return window.run(
            Job(
                "Exporting the audit log",
                lambda _progress: workspace.audit.export(path),
                lambda _result: window.statusBar().showMessage(f"Saved {path}", 8000),
            )
        )

    # --- the forget history -----------------------------------------------------------------------
    def refresh_history(self, show_last: bool = False) -> Job:
        """Read the forget requests from the records (on the ML thread); ``show_last`` also puts the
        newest request's report in Results (after a restart)."""
        window, workspace = self.window, self.window.workspace

        def done(found) -> None:
            window.history.show_requests(list(found))
            if show_last and window.results.report is None:
                last = next((r for r in reversed(found) if r.report is not None), None)
                if last is not None:
                    self._show_request_report(last)

        return window.run(
            Job(
                "Reading the forget history",
                lambda _progress: tuple(workspace.records.requests.all()),
                done,
                quiet=True,
            )
        )

    def _show_request_report(self, request) -> None:
        window = self.window
        name = Path(request.model_path).name if request.model_path else "the model it made"
        report = request.report.with_(erased=request.erased, request_id=request.id)
        window.results.show_report(report, name, request.model_after_sha256)
        window.results.set_model_in_use(window.view.model.sha256 if window.view.model else None)

    def show_request(self, request_id: int) -> None:
        request = next((r for r in self.window.history.requests if r.id == request_id), None)
        if request is not None and request.report is not None:
            self._show_request_report(request)
            self.window.tabs.setCurrentWidget(self.window.results)

    def request_people(self, request_id: int) -> list[str]:
        request = next((r for r in self.window.history.requests if r.id == request_id), None)
        return list(request.people) if request else []

    def export_certificate(self, request_id: int, path: str | None = None) -> Job | None:
        """Write a request's certificate (PDF, HTML or JSON, by the file's extension)."""
        window, workspace = self.window, self.window.workspace
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                window,
                "Export certificate",
                str(Path(window.settings.last_folder) / f"forget-certificate-{request_id}.pdf"),
                "PDF (*.pdf);;HTML (*.html);;JSON (*.json)",
            )
        if not path:
            return None
        from ..core.records.certificate import certificate, certificate_html, write_certificate

        if Path(path).suffix.lower() != ".pdf":
            return window.run(
                Job(
                    "Writing the certificate",
                    lambda _p: write_certificate(workspace.records, request_id, path),
                    lambda written: window.statusBar().showMessage(f"Saved {written}", 8000),
                )
            )

        def saved(html: str) -> None:
            from .certificate_pdf import write_pdf

            try:
                written = write_pdf(html, path)
            except ForgetError as error:
                window.show_error(str(error))
                return
            window.statusBar().showMessage(f"Saved {written}", 8000)

        return window.run(
            Job(
                "Writing the certificate",
                lambda _p: certificate_html(certificate(workspace.records, request_id)),
                saved,
            )
        )

    def let_back_in(self, request_id: int, confirm: bool = True) -> Job | None:
        """Let the people of a request back in, after a yes that says what it means (audited)."""
        window, workspace = self.window, self.window.workspace
        people = self.request_people(request_id)
        if not people:
            return None
        if confirm and (
            QMessageBox.question(
                window,
                "Let them back in",
                f"Let {shown(people)} back in? Only do this if they asked to return. Training and enrolment may then "
                "learn them again from their photos; this is recorded in the audit log. The models already made "
                "stay as they are.",
            )
            != QMessageBox.StandardButton.Yes
        ):
            return None

        def run(_progress):
            for name in people:
                workspace.reinclude(name)
            return tuple(workspace.records.requests.all()), workspace.view()

        def done(result) -> None:
            requests, view = result
            window.history.show_requests(list(requests))
            window.render(view)
            window.statusBar().showMessage(f"{shown(people)}: let back in.", 8000)

        return window.run(Job(f"Letting {shown(people)} back in", run, done))

    # --- erasure ----------------------------------------------------------------------------------
    def erase_photos(self, names: list[str], confirm: bool = True) -> Job | None:
        """Delete the forgotten people's source photos, after a yes that names the folder and the count."""
        window, workspace = self.window, self.window.workspace
        rows = {row.name: row for row in window.view.rows}
        count = sum(rows[n].images for n in names if n in rows)
        root = window.view.gallery_root
        if root is None:
            window.show_error("Open the folder of people that holds their photos first (File → Open folder of people).")
            return None
        if confirm:
            folders = ", ".join(str(root / n) for n in names)
            answer = QMessageBox.question(
                window,
                "Delete photos",
                f"Permanently delete {plural(count, 'photo')} of {shown(names)} — the "
                f"folder{'s' if len(names) > 1 else ''} {folders}? This cannot be undone.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None

        def run(_progress):
            return workspace.erase_photos(names), workspace.view()

        def done(result) -> None:
            erased, view = result
            window.statusBar().showMessage(f"Deleted {erased.photos} photos.", 8000)
            window.results.photos_erased(erased)
            window.render(view)
            self.refresh_history()

        return window.run(Job("Deleting photos", run, done))

    def delete_models_knowing(self, names: list[str], confirm: bool = True) -> Job:
        """Find every model the app has seen that still knows these people; delete them after a yes
        that names each file."""
        window, workspace = self.window, self.window.workspace

        def found(models) -> None:
            if not models:
                window.statusBar().showMessage("No other model file the app has seen still knows them.", 8000)
                return
            listing = "\n".join(f"• {m.path}" for m in models)
            if (
                confirm
                and QMessageBox.question(
                    window,
                    "Models that still know them",
                    f"These {len(models)} model file(s) still recognise {shown(names)}:\n{listing}\n\nDelete them?",
                )
                != QMessageBox.StandardButton.Yes
            ):
                return
            self.delete_models([m.path for m in models])

        return window.run(
            Job("Looking for models that still know them", lambda _progress: workspace.models_knowing(names), found)
        )

    def delete_models(self, paths: list[Path]) -> Job:
        window, workspace = self.window, self.window.workspace

        def run(_progress):
            for path in paths:
                workspace.delete_model(path)
            return workspace.view()

        def done(view) -> None:
            window.statusBar().showMessage(f"Deleted {len(paths)} model file(s).", 8000)
            window.render(view)

        return window.run(Job("Deleting model files", run, done))

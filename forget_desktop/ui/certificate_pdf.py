"""Certificates as PDF: Qt lays out the certificate's HTML on A4 pages (used by the window and by
``python -m forget_desktop certificate ID --out FILE.pdf``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from ..core.common.errors import ForgetError


def write_pdf(html: str, destination: str | os.PathLike) -> Path:
    """Render ``html`` to ``destination`` (written to a temporary file first, then renamed)."""
    if QGuiApplication.instance() is None:  # the command line: no window, no display needed
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        write_pdf.app = QGuiApplication([])
    target = Path(destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        writer = QPdfWriter(temporary)
        writer.setPageLayout(
            QPageLayout(
                QPageSize(QPageSize.PageSizeId.A4),
                QPageLayout.Orientation.Portrait,
                QMarginsF(18, 18, 18, 18),
                QPageLayout.Unit.Millimeter,
            )
        )
        writer.setTitle("Erasure certificate")
        document = QTextDocument()
        document.setHtml(html)
        document.print_(writer)
        del writer  # finishes the file
        if Path(temporary).stat().st_size == 0:
            raise ForgetError(f"The PDF {target.name} could not be written.")
        os.replace(temporary, target)
    except OSError as error:
        raise ForgetError(f"The PDF {target.name} could not be written ({error.strerror or error}).") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target

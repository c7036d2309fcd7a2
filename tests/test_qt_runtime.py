"""The pinned Qt binding must survive a long session (PySide6 6.12.0 on Python 3.11 does not)."""

import subprocess
import sys

from conftest import ROOT

LONG_SESSION = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication, QLabel, QProgressBar
app = QApplication([])
label, bar = QLabel(), QProgressBar()
for i in range(30000):  # about 20 minutes of a camera at 25 frames/s, one update each
    label.setText(str(i))
    bar.setValue(i % 100)
    app.processEvents()
print("ok")
"""


def test_window_updates_do_not_crash_a_long_session():
    # PySide6 6.12.0 drops a reference to None on every call of a method returning nothing; a few
    # thousand calls later CPython aborts ("deallocating None"). Found by the GUI benchmark.
    done = subprocess.run([sys.executable, "-c", LONG_SESSION], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "ok"

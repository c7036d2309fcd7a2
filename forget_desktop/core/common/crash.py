"""Named points between the steps of a state change, where a test can kill the process for real.

``crash_point("forget:model-saved")`` does nothing unless ``$FORGET_CRASH_AT`` names that point; then it
kills the process at once (SIGKILL: no clean-up, no flushing), after writing the point's name to
``$FORGET_CRASH_LOG`` so the test knows where the process died.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    if os.environ.get("FORGET_CRASH_AT") != name:
        return
    log = os.environ.get("FORGET_CRASH_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)  # pragma: no cover - Windows has no SIGKILL

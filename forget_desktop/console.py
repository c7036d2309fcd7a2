"""Console helpers shared by the training scripts and headless commands: tqdm progress, errors."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from .core.common.errors import ForgetError, describe
from .core.common.jobs import Progress, Throttle, left_note


@contextlib.contextmanager
def tqdm_progress(description: str = "") -> Iterator[Progress]:
    """A ``Progress`` drawing one tqdm bar (0–100 %) with the job's latest message and its time left (the
    app's own estimate, from this machine's measured rates); where standard error is not a terminal (a log
    file, CI), a plain line every ``LOG_EVERY`` seconds instead of a bar redrawn in place."""
    from tqdm import tqdm

    from .core.common.probe import probe_if_new

    probe_if_new()  # on a machine that has measured nothing yet: how fast it is, so the time left is its own
    stream = sys.stderr if sys.stderr is not None else open(os.devnull, "w")
    if not stream.isatty():
        with _log_lines(description, stream) as progress:
            yield progress
        return
    bar = tqdm(total=1000, desc=description, file=stream, bar_format="{l_bar}{bar}| {elapsed}{postfix}")
    throttle = Throttle(0.5)
    progress = Progress()

    def update(fraction: float, message: str) -> None:
        bar.n = int(fraction * 1000)
        bar.set_postfix_str(_status(message, progress), refresh=False)
        if throttle.ready() or fraction >= 1.0:
            bar.refresh()

    progress = Progress(update)
    try:
        yield progress
    finally:
        bar.close()


LOG_EVERY = 5.0  # seconds between the plain progress lines of a log


@contextlib.contextmanager
def _log_lines(description: str, stream) -> Iterator[Progress]:
    throttle, progress, last = Throttle(LOG_EVERY), Progress(), [""]

    def update(fraction: float, message: str) -> None:
        last[0] = message or last[0]
        if throttle.ready() or fraction >= 1.0:
            print(f"{description}: {fraction:.0%} {_status(last[0], progress)}".rstrip(), file=stream, flush=True)

    progress = Progress(update)
    yield progress


def _status(message: str, progress: Progress) -> str:
    """The job's latest message and, once there is an honest one, its time left."""
    return message + left_note(progress.seconds_left())


def run_main(body) -> int:
    """Call ``body()``; a ForgetError or any unexpected error becomes one line on stderr."""
    from .core.common.allocator import keep_freed_memory

    keep_freed_memory()  # before the first batch: see allocator.py
    try:
        return body() or 0
    except KeyboardInterrupt:
        print("Interrupted; nothing was written.", file=sys.stderr)
        return 130
    except ForgetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - the user gets a sentence, not a traceback
        print(f"error: {describe(error)}", file=sys.stderr)
        return 1

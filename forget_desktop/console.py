"""Console helpers shared by the training scripts and headless commands: tqdm progress, errors."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from .core.common.errors import ForgetError, describe
from .core.common.jobs import Progress, Throttle


@contextlib.contextmanager
def tqdm_progress(description: str = "") -> Iterator[Progress]:
    """A ``Progress`` drawing one tqdm bar (0–100 %) with the job's latest message."""
    from tqdm import tqdm

    stream = sys.stderr if sys.stderr is not None else open(__import__("os").devnull, "w")
    bar = tqdm(total=1000, desc=description, file=stream, bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}")

    throttle = Throttle(0.5)

    def update(fraction: float, message: str) -> None:
        bar.n = int(fraction * 1000)
        if message:
            bar.set_postfix_str(message, refresh=False)
        if throttle.ready() or fraction >= 1.0:
            bar.refresh()

    try:
        yield Progress(update)
    finally:
        bar.close()


def run_main(body) -> int:
    """Call ``body()``; a ForgetError or any unexpected error becomes one line on stderr."""
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

"""``python -m forget_desktop``: the window, or a headless command (predict, unlearn)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from forget_desktop.cli import COMMANDS, run_command  # absolute: the bundle runs this file as a script

    if argv and argv[0] in COMMANDS:
        return run_command(argv[0], argv[1:])
    if "--selftest" in argv:
        from forget_desktop.selftest import run_selftest

        return run_selftest()
    from forget_desktop.ui.app import run_app

    return run_app(argv)


if __name__ == "__main__":
    sys.exit(main())

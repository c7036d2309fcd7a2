"""Start the window: ``python -m forget_desktop [--data DIR] [--model CKPT] [--source S] [--screenshot PNG]``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ..core.common.devices import DEVICE_CHOICES
from ..core.common.errors import ForgetError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m forget_desktop",
        description="Forget: recognise faces, forget people, prove it.",
        epilog="Headless commands: python -m forget_desktop predict|unlearn --help",
    )
    parser.add_argument("--data", help="folder of people (one sub-folder of photos per person)")
    parser.add_argument("--model", help="checkpoint to open")
    parser.add_argument("--source", help="camera, camera:N, a video file, an image file or a folder of images")
    parser.add_argument("--screenshot", help="render offscreen once loading is done, save this PNG and exit")
    parser.add_argument("--forget", help="NAME[,NAME...]: run a forget job at start (demos, screenshots)")
    parser.add_argument("--method", help="method for --forget (default: exact for embedding models, salun otherwise)")
    parser.add_argument("--no-reference", action="store_true", help="with --forget: skip the retrained reference")
    parser.add_argument("--tab", choices=("recognise", "results"), help="tab to show")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--settings", help=argparse.SUPPRESS)  # a private settings file (tests)
    parser.add_argument("--screenshot-timeout", type=float, default=900, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_app(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.screenshot and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if sys.stderr is None:  # windowed bundle: tqdm and warnings need a stream
        sys.stderr = open(os.devnull, "w")
    from PySide6.QtWidgets import QApplication

    from .. import APP_NAME
    from ..core.common.devices import pick_device
    from .main_window import Launch, MainWindow
    from .settings import ORGANISATION, AppSettings

    QApplication.setOrganizationName(ORGANISATION)
    QApplication.setApplicationName(APP_NAME)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        device = pick_device(args.device)
    except ForgetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = AppSettings(args.settings) if args.settings else AppSettings()
    launch = Launch(
        Path(args.data) if args.data else None,
        Path(args.model) if args.model else None,
        args.source,
        Path(args.screenshot) if args.screenshot else None,
        [n for n in (args.forget or "").split(",") if n.strip()],
        args.method,
        args.tab,
    )
    window = MainWindow(settings, device, launch)
    if args.screenshot:
        window.resize(1600, 1000)
    window.show()
    start(window, launch, settings, args.no_reference)
    if launch.screenshot:
        screenshot_when_idle(app, window, launch.screenshot, args.screenshot_timeout)
    return app.exec()


def start(window, launch, settings=None, no_reference: bool = False) -> None:
    """Open what the command line named, or else what the last session had in use."""
    last = window.workspace.in_use()
    model = launch.model or (Path(last["model"]) if last.get("model") else None)
    data = launch.data or (Path(last["gallery"]) if last.get("gallery") else None)
    if model is not None and not launch.model and not model.is_file():
        window.show_error(
            f"The model in use last time, {model}, is no longer there; open another model or a version from the list."
        )
        model = None
    if data is not None and not launch.data and not data.is_dir():
        window.show_error(f"The folder of people used last time, {data}, is no longer there.")
        data = None
    if model is not None:  # the model in use last time opens as it was chosen (a warning would ask again)
        window.models.open_model(model, accept_forgotten=not launch.model)
    if data is not None:
        window.models.open_data(data)
    if launch.source:
        window.sources.open_argument(launch.source)
    if launch.forget:
        window.forgetting.run_forget(launch.method, {}, not no_reference, names=launch.forget)
    if launch.tab == "results":
        window.tabs.setCurrentWidget(window.results)


def screenshot_when_idle(app, window, path: Path, timeout: float) -> None:
    """Save a PNG of the window once every queued job is done and a frame is shown, then quit."""
    from PySide6.QtCore import QTimer

    started = time.monotonic()
    state = {"quiet": 0}

    def poll() -> None:
        waiting_frame = window.sources.source is not None and window.recognise.frame_view.image is None
        busy = not window.worker.is_idle() or waiting_frame
        state["quiet"] = 0 if busy else state["quiet"] + 1
        timed_out = time.monotonic() - started > timeout
        if state["quiet"] >= 3 or timed_out:
            if window.launch.tab == "results":
                window.tabs.setCurrentWidget(window.results)
            app.processEvents()
            path.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(path))
            print(f"saved {path}" + (" (timed out waiting)" if timed_out else ""))
            window.close()
            app.exit(1 if timed_out else 0)
            return
        QTimer.singleShot(200, poll)

    QTimer.singleShot(500, poll)

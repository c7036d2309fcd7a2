"""Forget: machine unlearning for face recognition, as a desktop app and a headless CLI."""

__version__ = "0.1.0"
APP_NAME = "forget-desktop"

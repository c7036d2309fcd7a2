"""Remembered choices: last folder, threshold per model, camera, method, window layout (QSettings).

The model and the folder of people in use are not kept here: the workspace keeps them (``in-use.json``)
together with the versions and the audit log, so they cannot disagree."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION, APPLICATION = "Forget", "forget-desktop"


class AppSettings:
    """Typed access to QSettings; tests pass a private ini file so nothing leaks between them."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.qsettings = (
            QSettings(str(path), QSettings.Format.IniFormat)
            if path is not None
            else QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)
        )

    def _get(self, key: str, default=None):
        return self.qsettings.value(key, default)

    def _set(self, key: str, value) -> None:
        self.qsettings.setValue(key, value)
        self.qsettings.sync()

    def path(self, key: str) -> Path | None:
        value = self._get(key)
        return Path(value) if value else None

    def set_path(self, key: str, value: str | Path | None) -> None:
        self._set(key, str(value) if value else "")

    @property
    def last_folder(self) -> str:
        return str(self._get("files/last_folder", str(Path.home())))

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self._set("files/last_folder", str(value))

    def threshold_for(self, model: str | Path) -> float | None:
        """The threshold the user set for this model file, or None (use the model's calibrated one)."""
        if str(self._get("recognise/threshold_model", "")) != str(model):
            return None
        try:
            return min(max(float(self._get("recognise/threshold")), 0.0), 1.0)
        except (TypeError, ValueError):
            return None

    def set_threshold(self, model: str | Path, value: float) -> None:
        self.qsettings.setValue("recognise/threshold_model", str(model))
        self._set("recognise/threshold", float(value))

    @property
    def camera(self) -> str:
        return str(self._get("recognise/camera", ""))

    @camera.setter
    def camera(self, value: str) -> None:
        self._set("recognise/camera", value)

    @property
    def method(self) -> str:
        return str(self._get("forget/method", ""))

    @method.setter
    def method(self, value: str) -> None:
        self._set("forget/method", value)

    @property
    def hash_names(self) -> bool:
        return str(self._get("audit/hash_names", "false")).lower() == "true"

    @hash_names.setter
    def hash_names(self, value: bool) -> None:
        self._set("audit/hash_names", "true" if value else "false")

    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        return self._get("window/geometry"), self._get("window/state")

    def set_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self._set("window/state", state)

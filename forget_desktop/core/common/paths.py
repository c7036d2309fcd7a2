"""Where the app keeps caches, data and settings (platformdirs; overridable for tests)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from ... import APP_NAME


def cache_dir() -> Path:
    """Derived files (face crops, thumbnails, embeddings); $FORGET_CACHE_DIR overrides."""
    return Path(os.environ.get("FORGET_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME))


def data_dir() -> Path:
    """Models, downloads and the audit log; $FORGET_DATA_DIR overrides."""
    return Path(os.environ.get("FORGET_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))


def torch_checkpoints_dir() -> Path:
    """Where torch hub (and facenet-pytorch) keep downloaded weights: $TORCH_HOME/checkpoints."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch"
    )
    return Path(home) / "checkpoints"

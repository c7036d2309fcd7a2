"""The PySide6 window. Widgets only start jobs and render results; the math lives in ``core``."""

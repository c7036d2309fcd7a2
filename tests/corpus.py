"""A corpus of awkward inputs, built at run time from one real LFW photo."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import LFW

SOURCE = sorted((LFW / "Ariel_Sharon").iterdir())[0]

# file name -> None when it must work (one face found), else the start of its one-sentence error
EXPECTED = {
    "truncated.jpg": "'truncated.jpg' is damaged or truncated",
    "empty.jpg": "'empty.jpg' is empty (0 bytes).",
    "text.jpg": "'text.jpg' is not an image format this app can read.",
    "loop.jpg": "'loop.jpg' is a symbolic link that points to itself.",
    "sixteen.png": None,
    "cmyk.jpg": None,
    "grey.pgm": None,
    "huge.jpg": None,
    "animated.gif": None,
    "rotated.jpg": None,
    "фото_José.jpg": None,
}


def build_corpus(folder: Path) -> dict[str, Path]:
    """Write every case of EXPECTED into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    face = Image.open(SOURCE).convert("RGB")
    data = SOURCE.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image", encoding="utf-8")
    os.symlink("loop.jpg", folder / "loop.jpg")
    Image.fromarray(np.asarray(face.convert("L"), dtype=np.uint16) * 257).save(folder / "sixteen.png")
    face.convert("CMYK").save(folder / "cmyk.jpg")
    face.convert("L").save(folder / "grey.pgm")
    huge = Image.new("RGB", (10000, 10000), (200, 200, 200))
    huge.paste(face.resize((1500, 1500)), (4000, 4000))
    huge.save(folder / "huge.jpg", quality=60)
    frames = [face, Image.new("RGB", face.size), face.rotate(10)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90°: must be displayed (and searched) upright
    face.transpose(Image.Transpose.ROTATE_90).save(folder / "rotated.jpg", exif=exif)
    shutil.copy(SOURCE, folder / "фото_José.jpg")
    return {name: folder / name for name in EXPECTED}

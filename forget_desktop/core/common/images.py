"""Read any photo a user may point us at into an RGB array, or explain in one sentence why not."""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ForgetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".ppm", ".pbm", ".gif", ".tif", ".tiff"})
MAX_PIXELS = 150_000_000  # beyond this an image is refused rather than risk memory exhaustion
WORK_SIDE = 2048  # larger photos are reduced to this longest side when read

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def is_image_file(path: Path) -> bool:
    """True for a regular file with a supported image suffix."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def load_rgb(path: str | os.PathLike, max_side: int = WORK_SIDE) -> np.ndarray:
    """Decode ``path`` to an H×W×3 uint8 RGB array, upright per EXIF, longest side ≤ ``max_side``.

    Grey, 16-bit, palette, CMYK and alpha images are converted; animated files give their
    first frame. Raises ``ForgetError`` with one sentence for anything unreadable.
    """
    return load_rgb_scaled(path, max_side)[0]


def load_rgb_scaled(path: str | os.PathLike, max_side: int = WORK_SIDE) -> tuple[np.ndarray, float]:
    """Like ``load_rgb``, also giving the scale from the file's own pixels to the array's (≤ 1)."""
    path = Path(path)
    name = path.name
    try:
        if path.is_dir():
            raise ForgetError(f"'{name}' is a folder, not an image.")
        if path.stat().st_size == 0:
            raise ForgetError(f"'{name}' is empty (0 bytes).")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                original_side = max(image.size)
                image.draft("RGB", (max_side, max_side))  # JPEG: decode reduced, cheaply
                image.seek(0)
                image.load()
                image = ImageOps.exif_transpose(image)
                image = _to_rgb(image)
                if max(image.size) > max_side:
                    image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
                return np.asarray(image, dtype=np.uint8).copy(), max(image.size) / original_side
    except ForgetError:
        raise
    except UnidentifiedImageError:  # (a kind of OSError)
        raise ForgetError(f"'{name}' is not an image format this app can read.") from None
    except OSError as error:
        raise unreadable(path, error) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ForgetError(
            f"'{name}' is too large to open safely (over {MAX_PIXELS // 1_000_000} megapixels)."
        ) from None
    except (SyntaxError, ValueError, EOFError) as error:
        raise damaged(name, error) from None
    except MemoryError:
        raise ForgetError(f"'{name}' needs more memory to decode than is available.") from None


def unreadable(path: str | os.PathLike, error: OSError) -> ForgetError:
    """One sentence for a file that the system would not let us read (or a decoder choked on)."""
    name = Path(path).name
    if isinstance(error, FileNotFoundError):
        return ForgetError(f"'{name}' does not exist (it may have been moved or deleted).")
    if isinstance(error, PermissionError):
        return ForgetError(f"'{name}' cannot be read: permission denied.")
    if error.errno == errno.ELOOP:
        return ForgetError(f"'{name}' is a symbolic link that points to itself.")
    if error.errno is not None and error.strerror:
        return ForgetError(f"'{name}' cannot be read: {error.strerror}.")
    return damaged(name, error)


def damaged(name: str, error: BaseException) -> ForgetError:
    """'x.jpg' is damaged…, with the decoder's own words when it has any."""
    detail = str(error).strip().rstrip(".")
    return ForgetError(f"'{name}' is damaged or truncated and cannot be decoded" + (f" ({detail})." if detail else "."))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() if array.size else 0
        scale = 255.0 / top if top > 255 else 1.0
        image = Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name.

    Broken links with an image name (dangling, or pointing to themselves) are listed too, so the
    loader reports them in a sentence rather than dropping them silently.
    """
    found = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        try:
            if is_image_file(entry) and (entry.is_file() or entry.is_symlink()):
                found.append(entry)
        except OSError:
            continue
    return found

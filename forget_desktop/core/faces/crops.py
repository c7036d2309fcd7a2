"""Face crops per backbone ("crop specs"), the on-disk crop cache, and in-memory crop sets."""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from ..common.atomic import atomic_write, sha256_file
from ..common.errors import ForgetError
from ..common.images import load_rgb, unreadable
from ..common.jobs import Progress
from .detector import DEFAULT_DETECTOR, LEGACY_DETECTOR, Face, FaceDetector, check_detector, main_face

# Standard ArcFace / InsightFace landmark template for 112×112 crops.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


_READ_LOCK = threading.Lock()
# Photos cropped at once when the detector can work on several (see ``build_crop_set``).
PHOTO_THREADS = 2
# What reading a cut-short, emptied or otherwise damaged cache entry raises: such an entry is removed
# and made again from the photo.
UNREADABLE_ENTRY = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
FACE_ALIGNS = ("landmarks", "box")  # crops cut around a detected face


@dataclass(frozen=True)
class CropSpec:
    """How a face becomes a model input: which detector finds it, geometry, size and normalisation."""

    name: str
    size: int
    align: str  # "landmarks" (similarity warp), "box" (margin crop) or "none" (whole image)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    margin: int = 0
    channels: int = 3
    detector: str = ""  # the face detector whose faces are cropped ("" where no face is detected)

    @property
    def key(self) -> str:
        """Short stable id of everything that changes the crop pixels (MTCNN's crops keep the key they
        had before the detector was a choice, so caches made then stay valid)."""
        text = f"{self.name}:{self.size}:{self.align}:{self.margin}:{self.channels}"
        if self.detector not in ("", LEGACY_DETECTOR):
            text += f":{self.detector}"
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    def with_detector(self, detector: str) -> CropSpec:
        """The same crop of the faces ``detector`` finds (unchanged for specs that detect no face)."""
        return replace(self, detector=check_detector(detector)) if self.align in FACE_ALIGNS else self

    def to_dict(self) -> dict:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict) -> CropSpec:
        """The spec a checkpoint recorded; one made before the detector was a choice used MTCNN."""
        legacy = LEGACY_DETECTOR if data["align"] in FACE_ALIGNS else ""
        return cls(
            **{**data, "mean": tuple(data["mean"]), "std": tuple(data["std"]), "detector": data.get("detector", legacy)}
        )


ARCFACE_112 = CropSpec(
    "arcface112", 112, "landmarks", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), detector=DEFAULT_DETECTOR
)
# facenet's fixed_image_standardization, (x - 127.5) / 128, written for x in [0, 1]
FACENET_160 = CropSpec(
    "facenet160", 160, "box", (127.5 / 255,) * 3, (128 / 255,) * 3, margin=14, detector=DEFAULT_DETECTOR
)
MNIST_28 = CropSpec("mnist28", 28, "none", (0.1307,), (0.3081,), channels=1)
# Not a crop: the frozen backbone's embedding of one (what an embedding model's head learns from).
EMBEDDING = CropSpec("embedding", 0, "embedding", (), (), channels=0)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation mapping ``src`` points onto ``dst`` (2×3)."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / src_c.var(0).sum()
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def make_crop(rgb: np.ndarray, face: Face, spec: CropSpec) -> np.ndarray:
    """Cut one face out of an RGB image as ``spec`` says; returns size×size×3 uint8."""
    if spec.align == "landmarks":
        template = ARCFACE_TEMPLATE * (spec.size / 112.0)
        matrix = similarity_transform(face.landmarks.astype(np.float64), template)
        return cv2.warpAffine(
            rgb, matrix, (spec.size, spec.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
    if spec.align == "box":
        x1, y1, x2, y2 = face.box
        pad_x = spec.margin * (x2 - x1) / (spec.size - spec.margin) / 2
        pad_y = spec.margin * (y2 - y1) / (spec.size - spec.margin) / 2
        height, width = rgb.shape[:2]
        left, top = int(max(x1 - pad_x, 0)), int(max(y1 - pad_y, 0))
        right, bottom = int(min(x2 + pad_x, width)), int(min(y2 + pad_y, height))
        patch = rgb[top : max(bottom, top + 1), left : max(right, left + 1)]
        return cv2.resize(patch, (spec.size, spec.size), interpolation=cv2.INTER_AREA)
    raise ValueError(f"crop spec {spec.name} does not crop faces")


def to_input(crops: torch.Tensor, spec: CropSpec) -> torch.Tensor:
    """uint8 N×C×H×W crops → normalised float model input on the same device (embeddings as they are)."""
    if spec.align == "embedding":
        return crops.float()
    mean = torch.tensor(spec.mean, device=crops.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, device=crops.device).view(1, -1, 1, 1)
    return ((crops.float() / 255.0 - mean) / std).contiguous(memory_format=torch.channels_last)


@dataclass
class CropSet:
    """Crops in memory: uint8 N×C×H×W images (or N×D embeddings, spec ``EMBEDDING``) with int64 labels,
    where each came from and the sha256 of that photo (empty where there is no photo file)."""

    images: torch.Tensor
    labels: torch.Tensor
    spec: CropSpec
    sources: list[str]
    digests: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def where(self, mask: torch.Tensor) -> CropSet:
        """The crops where ``mask`` is true."""
        index = torch.nonzero(mask, as_tuple=False).flatten().tolist()
        return CropSet(
            self.images[index],
            self.labels[index],
            self.spec,
            [self.sources[i] for i in index],
            [self.digests[i] for i in index] if self.digests else [],
        )

    def of_classes(self, classes: Sequence[int], keep: bool = True) -> CropSet:
        """Crops whose label is in ``classes`` (or, with ``keep=False``, is not)."""
        mask = torch.isin(self.labels, torch.tensor(list(classes), dtype=torch.long))
        return self.where(mask if keep else ~mask)

    def relabelled(self, keep: Sequence[int]) -> CropSet:
        """Only the crops of the classes ``keep``, labelled by their position in it (a model with the
        other classes' slots dropped)."""
        kept = self.of_classes(keep)
        remap = torch.full((int(max(keep, default=0)) + 1,), -1, dtype=torch.long)
        remap[torch.tensor(list(keep), dtype=torch.long)] = torch.arange(len(keep))
        kept.labels = remap[kept.labels] if len(kept.labels) else kept.labels
        return kept


@dataclass
class CropProblem:
    """A photo that gave no crop, and why (one sentence)."""

    path: str
    reason: str


class CropCache:
    """Crops on disk keyed by the photo's content hash and the crop spec: detection runs once."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        if root is None:
            from ..common.paths import cache_dir

            root = cache_dir() / "crops"
        self.root = Path(root)
        self._identities: dict[Path, tuple[tuple[int, int], str]] = {}  # entry → (its file's stamp, identity)

    def entry(self, digest: str, spec: CropSpec, embedding: str = "") -> Path:
        """The file of one photo's crop, or (``embedding`` = a frozen backbone's key) of its embedding."""
        name = f"{digest}.{embedding}.npz" if embedding else f"{digest}.npz"
        return self.root / spec.key / digest[:2] / name

    @staticmethod
    def digest_of(entry: Path) -> str:
        """The photo hash an entry was made from."""
        return entry.name.split(".", 1)[0]

    @staticmethod
    def is_embedding(entry: Path) -> bool:
        """True for an embedding entry (``<digest>.<backbone key>.npz``), False for a crop."""
        return entry.name.count(".") > 1

    def count(self, spec: CropSpec, embeddings: str = "") -> int:
        """How many crops of ``spec`` are cached (or, with ``embeddings`` = a key's start such as a backbone
        name, embeddings of it): a quick count for the time a job will take, not a check of any photo."""
        folder = self.root / spec.key
        pattern = f"*/*.{embeddings}*.npz" if embeddings else "*/*.npz"
        try:
            found = folder.glob(pattern) if folder.is_dir() else ()
            return sum(1 for entry in found if embeddings or not self.is_embedding(entry))
        except OSError:
            return 0

    def entries(self) -> list[Path]:
        """Every cache file (all crop specs)."""
        return sorted(self.root.rglob("*.npz")) if self.root.is_dir() else []

    def identity(self, entry: Path) -> str:
        """The identity an entry was derived for ("" when unknown or unreadable), read once for each
        version of its file."""
        try:
            info = entry.stat()
        except OSError:
            return ""
        stamp = (info.st_mtime_ns, info.st_ino)
        known = self._identities.get(entry)
        if known is None or known[0] != stamp:
            try:
                data = _read(entry, ("identity",))
                identity = str(data["identity"]) if "identity" in data else ""
            except UNREADABLE_ENTRY:
                identity = ""
            known = self._identities[entry] = (stamp, identity)
        return known[1]

    def read_identities(self, progress: Progress | None = None) -> None:
        """Read every entry's identity now (a second or two for thousands of entries), so that finding a
        person's entries at the end of a job reads only the entries made since."""
        entries = self.entries()
        for index, entry in enumerate(entries):
            if progress is not None and index % 500 == 0:
                progress(index / len(entries), f"Reading the cache {index}/{len(entries)}")
            self.identity(entry)

    def load(self, digest: str, spec: CropSpec) -> tuple[np.ndarray | None, str]:
        """(crop, "") for a cached crop, (None, reason) for a cached failure; KeyError if absent."""
        path = self.entry(digest, spec)
        try:
            data = _read(path, ("reason", "crop"))
            reason = str(data["reason"])
            return (None, reason) if reason else (data["crop"], "")
        except FileNotFoundError:
            raise KeyError(digest) from None
        except UNREADABLE_ENTRY:
            path.unlink(missing_ok=True)  # a damaged entry is recomputed
            raise KeyError(digest) from None

    def store(
        self,
        digest: str,
        spec: CropSpec,
        crop: np.ndarray | None,
        reason: str = "",
        face: Face | None = None,
        identity: str = "",
    ) -> None:
        """Keep a crop (or why there is none); ``identity`` lets erasure find it without the photo."""
        arrays = {
            "crop": crop if crop is not None else np.zeros((0,), np.uint8),
            "reason": np.array(reason),
            "identity": np.array(identity),
        }
        if face is not None:
            arrays.update(box=face.box, landmarks=face.landmarks, prob=np.float32(face.prob))
        self._write(self.entry(digest, spec), arrays)

    def face_box(self, digest: str, spec: CropSpec) -> np.ndarray | None:
        """The box (x1, y1, x2, y2) of the face a photo's crop was cut around, or None when unknown."""
        try:
            data = _read(self.entry(digest, spec), ("box",))
            return data["box"].astype(np.float32) if "box" in data else None
        except UNREADABLE_ENTRY:
            return None

    def load_embedding(self, digest: str, spec: CropSpec, key: str) -> np.ndarray | None:
        """A photo's cached embedding under the frozen backbone ``key``, or None."""
        path = self.entry(digest, spec, key)
        try:
            return _read(path, ("embedding",))["embedding"]
        except FileNotFoundError:
            return None
        except UNREADABLE_ENTRY:
            path.unlink(missing_ok=True)  # damaged: computed again
            return None

    def store_embedding(self, digest: str, spec: CropSpec, key: str, embedding: np.ndarray, identity: str) -> None:
        """Keep one photo's embedding (float32, exact bits) with the identity erasure looks for."""
        self._write(
            self.entry(digest, spec, key), {"embedding": embedding.astype(np.float32), "identity": np.array(identity)}
        )

    def _write(self, path: Path, arrays: dict) -> None:
        """Uncompressed (face crops shrink by a few per cent and took a tenth of the first run to
        compress) and without fsync: an entry damaged by a power cut is found unreadable and made again."""
        try:
            with atomic_write(path, durable=False) as handle:
                np.savez(handle, **arrays)
        except (OSError, ForgetError):
            pass  # the cache is an optimisation: a failed write only costs recomputing it later


def _read(path: Path, wanted: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a cache entry (only the ``wanted`` ones, those it has). One read at a time: numpy
    parses each array's header with ``ast``, which Python 3.11 cannot do on two threads at once (a
    SystemError)."""
    with _READ_LOCK, np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files if wanted is None or name in wanted}


def crop_photo(
    path: str | os.PathLike, spec: CropSpec, detector: FaceDetector | None, cache: CropCache | None
) -> tuple[np.ndarray, str]:
    """The main face of one training photo as an aligned crop, and the photo's sha256;
    ``ForgetError`` if there is none."""
    try:
        digest = sha256_file(path)
    except OSError as error:
        raise unreadable(path, error) from None
    identity = Path(path).parent.name
    if cache is not None:
        try:
            crop, reason = cache.load(digest, spec)
            if crop is None:
                raise ForgetError(reason)
            return crop, digest
        except KeyError:
            pass
    try:
        rgb = load_rgb(path)
    except ForgetError as error:
        if cache is not None:
            cache.store(digest, spec, None, str(error), identity=identity)
        raise
    if detector is None:
        raise ForgetError(f"'{Path(path).name}' needs a face detector to be cropped.")
    if detector.name != spec.detector:  # its crops would be cached as another detector's
        raise ValueError(f"{detector.name} faces asked for {spec.detector} crops")
    face = main_face(detector.detect(rgb), rgb.shape[1], rgb.shape[0])
    if face is None:
        reason = f"No face was found in '{Path(path).name}'."
        if cache is not None:
            cache.store(digest, spec, None, reason, identity=identity)
        raise ForgetError(reason)
    crop = make_crop(rgb, face, spec)
    if cache is not None:
        cache.store(digest, spec, crop, face=face, identity=identity)
    return crop, digest


def build_crop_set(
    samples: Sequence,
    spec: CropSpec,
    detector: FaceDetector | None = None,
    cache: CropCache | None = None,
    progress: Progress | None = None,
) -> tuple[CropSet, list[CropProblem]]:
    """Crop every sample (objects with ``path`` and ``label``); failures are returned, not dropped.

    Photos are cropped on ``PHOTO_THREADS`` threads when the detector can make a twin (YuNet), each
    searching with one OpenCV thread: on small photos that is twice as fast as one search on two."""
    progress = progress or Progress()
    crops, labels, sources, digests, problems = [], [], [], [], []
    for index, (sample, outcome) in enumerate(zip(samples, _crop_each(samples, spec, detector, cache))):
        if index % 8 == 0:
            progress(index / max(len(samples), 1), f"Finding faces {index}/{len(samples)}")
        if isinstance(outcome, ForgetError):
            problems.append(CropProblem(str(sample.path), str(outcome)))
            continue
        crops.append(outcome[0])
        labels.append(sample.label)
        sources.append(str(sample.path))
        digests.append(outcome[1])
    progress(1.0, f"Found faces in {len(crops)} of {len(samples)} photos")
    if crops:
        images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    else:
        images = torch.zeros((0, spec.channels, spec.size, spec.size), dtype=torch.uint8)
    return CropSet(images, torch.tensor(labels, dtype=torch.long), spec, sources, digests), problems


def _crop_each(
    samples: Sequence, spec: CropSpec, detector: FaceDetector | None, cache: CropCache | None
) -> Iterator[tuple[np.ndarray, str] | ForgetError]:
    """Each sample's (crop, digest), or the ForgetError saying why it has none, in the samples' order."""
    twins = _twins(detector, PHOTO_THREADS)

    def one(sample, chosen: FaceDetector | None) -> tuple[np.ndarray, str] | ForgetError:
        try:
            return crop_photo(sample.path, spec, chosen, cache)
        except ForgetError as error:
            return error

    if len(twins) < 2 or len(samples) < 2 * PHOTO_THREADS:
        yield from (one(sample, detector) for sample in samples)
        return
    own, handed_out = threading.local(), iter(twins)  # each pool thread takes one twin when it starts

    def take_twin() -> None:
        own.detector = next(handed_out)

    def in_thread(sample) -> tuple[np.ndarray, str] | ForgetError:
        return one(sample, own.detector)

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    pool = ThreadPoolExecutor(len(twins), thread_name_prefix="crop", initializer=take_twin)
    try:
        futures = [pool.submit(in_thread, sample) for sample in samples]
        for future in futures:
            yield future.result()
    finally:  # a cancelled job stops here: photos not yet started are never cropped
        pool.shutdown(wait=True, cancel_futures=True)
        cv2.setNumThreads(threads)


def _twins(detector: FaceDetector | None, count: int) -> list:
    """``detector`` and ``count - 1`` twins of it for other threads, or just ``detector`` when it has none."""
    twin = getattr(detector, "twin", None)
    others = [twin() for _ in range(count - 1)] if callable(twin) else []
    return [detector, *others] if others and all(others) else [detector]

"""MTCNN on real photos, aligned crops per backbone, and the crop cache."""

import numpy as np
import pytest

from conftest import LFW, PHOTOS
from forget_desktop.core.common.errors import ForgetError
from forget_desktop.core.common.images import load_rgb
from forget_desktop.core.data.dataset import Sample
from forget_desktop.core.faces.crops import (
    ARCFACE_112,
    ARCFACE_TEMPLATE,
    FACENET_160,
    CropCache,
    build_crop_set,
    crop_photo,
    make_crop,
)
from forget_desktop.core.faces.detector import FaceDetector, main_face

ONE_FACE = sorted((PHOTOS / "test_images").glob("*/1.jpg")) + [PHOTOS / "skimage" / "astronaut.png"]
NO_FACE = [PHOTOS / "skimage" / name for name in ("coffee.png", "rocket.jpg", "chelsea.png")]


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


class CountingDetector:
    """The real detector, counting how often it is asked."""

    def __init__(self, detector):
        self.detector, self.calls = detector, 0

    def detect(self, rgb):
        self.calls += 1
        return self.detector.detect(rgb)


def test_face_counts_on_real_photos(detector):
    assert len(detector.detect(load_rgb(PHOTOS / "multiface.jpg"))) == 6
    for path in ONE_FACE:
        assert len(detector.detect(load_rgb(path))) == 1, path
    for path in NO_FACE:
        assert detector.detect(load_rgb(path)) == [], path


def test_arcface_crop_puts_the_eyes_on_the_template(detector):
    rgb = load_rgb(sorted((LFW / "Tony_Blair").iterdir())[0])
    face = main_face(detector.detect(rgb), rgb.shape[1], rgb.shape[0])
    crop = make_crop(rgb, face, ARCFACE_112)
    assert crop.shape == (112, 112, 3)
    # Detect again on the crop (upscaled): its landmarks sit where the template says.
    import cv2

    again = detector.detect(cv2.resize(crop, (224, 224)))
    assert len(again) == 1
    error = np.abs(again[0].landmarks / 2 - ARCFACE_TEMPLATE).max()
    assert error < 6, error


def test_facenet_crop_is_160_with_the_face_inside(detector):
    rgb = load_rgb(PHOTOS / "skimage" / "astronaut.png")
    face = detector.detect(rgb)[0]
    crop = make_crop(rgb, face, FACENET_160)
    assert crop.shape == (160, 160, 3)
    assert len(detector.detect(crop)) == 1


def test_main_face_is_the_large_central_one(detector):
    rgb = load_rgb(PHOTOS / "multiface.jpg")
    faces = detector.detect(rgb)
    chosen = main_face(faces, rgb.shape[1], rgb.shape[0])
    centre = np.array([rgb.shape[1] / 2, rgb.shape[0] / 2])
    distances = [np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre) for f in faces]
    assert chosen is faces[int(np.argmin(distances))] or chosen.area == max(f.area for f in faces)


def test_cache_avoids_second_detection_and_remembers_failures(detector, tmp_path):
    samples = [Sample(p, 0) for p in sorted((LFW / "Hugo_Chavez").iterdir())[:4]]
    samples += [Sample(NO_FACE[0], 1), Sample(tmp_path / "empty.jpg", 1)]
    (tmp_path / "empty.jpg").write_bytes(b"")
    counting = CountingDetector(detector)
    cache = CropCache(tmp_path / "cache")
    first, problems = build_crop_set(samples, ARCFACE_112, counting, cache)
    assert len(first) == 4 and counting.calls == 5  # the empty file never reaches the detector
    assert [p.reason for p in problems] == ["No face was found in 'coffee.png'.", "'empty.jpg' is empty (0 bytes)."]
    second, problems_again = build_crop_set(samples, ARCFACE_112, counting, cache)
    assert counting.calls == 5, "second run detected again"
    assert [p.reason for p in problems_again] == [p.reason for p in problems]
    assert np.array_equal(first.images.numpy(), second.images.numpy())
    # a different crop spec is a different cache entry
    crop_photo(samples[0].path, FACENET_160, counting, cache)
    assert counting.calls == 6


def test_unreadable_photo_is_a_sentence(detector, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(ForgetError, match="not an image format"):
        crop_photo(bad, ARCFACE_112, detector, None)


def test_stream_recogniser_tracks_faces_between_detections(small_checkpoint):
    from conftest import VIDEO
    from forget_desktop.core.faces.frames import VideoFrames
    from forget_desktop.core.model.checkpoint import load_checkpoint
    from forget_desktop.core.recognition.recognise import Recogniser
    from forget_desktop.core.recognition.stream import VideoRecogniser

    frames = [f.rgb for f, _ in zip(VideoFrames(VIDEO, size=(640, 480)), range(9))]
    recogniser = Recogniser(load_checkpoint(small_checkpoint), "cpu")
    stream = VideoRecogniser(recogniser, detect_every=3)
    followed_total, matched, same_name = 0, 0, 0
    for index, rgb in enumerate(frames):
        detected = recogniser.recognise(rgb)
        followed = stream.recognise(rgb)
        assert followed, index
        if index % 3 == 0:
            continue  # detection frames: identical by construction
        for face in followed:  # a tracked face sits on a face the detector finds in this frame
            followed_total += 1
            best = max(detected, key=lambda d: _iou(face.box, d.box), default=None)
            if best is not None and _iou(face.box, best.box) > 0.5:
                matched += 1
                same_name += best.identity == face.identity  # "Unknown" for these strangers, mostly
    assert followed_total >= 20
    assert matched / followed_total >= 0.8  # MTCNN itself flickers on a few faces between frames
    assert same_name / matched >= 0.8


def _iou(a, b) -> float:
    from forget_desktop.core.recognition.recognise import box_iou

    return box_iou(a, b)

"""The subject of a photo, the crop cache, and faces tracked through a video (detectors: test_detectors.py)."""

import numpy as np
import pytest
import torch

from conftest import LFW, PHOTOS
from forget_desktop.core.common.errors import ForgetError
from forget_desktop.core.common.images import load_rgb
from forget_desktop.core.data.dataset import Sample
from forget_desktop.core.data.gallery import LazyDetector
from forget_desktop.core.faces.crops import ARCFACE_112, FACENET_160, CropCache, build_crop_set, crop_photo
from forget_desktop.core.faces.detector import main_face, make_detector

NO_FACE = PHOTOS / "skimage" / "coffee.png"


@pytest.fixture(scope="module")
def detector():
    return make_detector()


class CountingDetector:
    """The real detector, counting how often it is asked."""

    def __init__(self, detector):
        self.detector, self.calls, self.name, self.every_frame = detector, 0, detector.name, detector.every_frame

    def detect(self, rgb):
        self.calls += 1
        return self.detector.detect(rgb)


def test_main_face_is_the_large_central_one(detector):
    rgb = load_rgb(PHOTOS / "multiface.jpg")
    faces = detector.detect(rgb)
    chosen = main_face(faces, rgb.shape[1], rgb.shape[0])
    centre = np.array([rgb.shape[1] / 2, rgb.shape[0] / 2])
    distances = [np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre) for f in faces]
    assert chosen is faces[int(np.argmin(distances))] or chosen.area == max(f.area for f in faces)


def test_cache_avoids_second_detection_and_remembers_failures(detector, tmp_path):
    samples = [Sample(p, 0) for p in sorted((LFW / "Hugo_Chavez").iterdir())[:4]]
    samples += [Sample(NO_FACE, 1), Sample(tmp_path / "empty.jpg", 1)]
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


def test_a_damaged_cache_entry_is_made_again_from_the_photo(detector, tmp_path):
    """Cache entries are written without fsync: one emptied or cut short by a power cut is found
    unreadable, removed and derived again, the same bits as before."""
    photos = sorted((LFW / "Hugo_Chavez").iterdir())[:3]
    counting = CountingDetector(detector)
    cache = CropCache(tmp_path / "cache")
    first = [crop_photo(p, ARCFACE_112, counting, cache)[0] for p in photos]
    entries = [cache.entry(crop_photo(p, ARCFACE_112, counting, cache)[1], ARCFACE_112) for p in photos]
    assert counting.calls == 3
    entries[0].write_bytes(b"")
    entries[1].write_bytes(entries[1].read_bytes()[: entries[1].stat().st_size // 2])
    again = [crop_photo(p, ARCFACE_112, counting, cache)[0] for p in photos]
    assert counting.calls == 5, "the two damaged entries were not made again (or the whole one was)"
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert cache.face_box(crop_photo(photos[1], ARCFACE_112, counting, cache)[1], ARCFACE_112) is not None


def test_photos_cropped_on_two_threads_are_the_same_crops_in_the_same_order(detector, tmp_path):
    samples = [Sample(p, i % 3) for i, p in enumerate(sorted((LFW / "Colin_Powell").iterdir())[:20])]
    samples.insert(7, Sample(NO_FACE, 1))
    one_thread = CountingDetector(detector)  # no twin: one photo at a time
    single, problems = build_crop_set(samples, ARCFACE_112, one_thread)
    twinned, twin_problems = build_crop_set(samples, ARCFACE_112, LazyDetector("yunet"), CropCache(tmp_path / "c"))
    assert one_thread.calls == len(samples)
    assert twinned.sources == single.sources and torch.equal(twinned.labels, single.labels)
    assert torch.equal(twinned.images, single.images)
    assert [p.reason for p in twin_problems] == [p.reason for p in problems] == ["No face was found in 'coffee.png'."]


def test_unreadable_photo_is_a_sentence(detector, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(ForgetError, match="not an image format"):
        crop_photo(bad, ARCFACE_112, detector, None)


def video_frames(count: int) -> list:
    from conftest import VIDEO
    from forget_desktop.core.faces.frames import VideoFrames

    return [f.rgb for f, _ in zip(VideoFrames(VIDEO, size=(640, 480)), range(count))]


def test_yunet_stream_searches_every_frame_and_keeps_each_face_on_its_track(small_checkpoint):
    from forget_desktop.core.model.checkpoint import load_checkpoint
    from forget_desktop.core.recognition.recognise import Recogniser
    from forget_desktop.core.recognition.stream import VideoRecogniser, match_boxes

    frames = video_frames(40)
    recogniser = Recogniser(load_checkpoint(small_checkpoint), "cpu")
    stream = VideoRecogniser(recogniser)
    searcher = make_detector("yunet", video=True)
    names: dict[int, list[str]] = {}  # track → the best match's name, frame after frame
    afresh, previous = 0, []  # name changes when every face is named afresh in every frame
    for rgb in frames:
        shown = stream.recognise(rgb)
        found = searcher.detect(rgb)
        assert sorted(f.box[0] for f in found) == [r.box[0] for r in shown]  # every frame, every face
        for face in shown:
            names.setdefault(face.track, []).append(face.top[0][0])
        named = recogniser.recognise(rgb)
        afresh += sum(
            named[i].top[0][0] != previous[j].top[0][0]
            for i, j in match_boxes([r.box for r in named], [r.box for r in previous])
        )
        previous = named
    seen = sum(len(v) for v in names.values())
    assert seen >= 150  # about 5 faces in each of 40 frames
    assert len(names) <= seen / 8, names  # the same face stays on its track (a few come and go)
    changes = sum(a != b for v in names.values() for a, b in zip(v, v[1:]))
    assert afresh >= 20  # these strangers' closest match flickers when named frame by frame...
    assert changes * 4 <= afresh, (changes, afresh)  # ...and far less on a track


def test_mtcnn_stream_follows_faces_between_detections(small_checkpoint):
    from forget_desktop.core.model.checkpoint import load_checkpoint
    from forget_desktop.core.recognition.recognise import Recogniser
    from forget_desktop.core.recognition.stream import VideoRecogniser

    frames = video_frames(9)
    recogniser = Recogniser(load_checkpoint(small_checkpoint), "cpu", detector_name="mtcnn")
    stream = VideoRecogniser(recogniser, detect_every=3)
    assert stream.detector.name == "mtcnn" and not stream.every_frame
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

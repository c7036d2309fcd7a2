"""Identity folders → reproducible per-person splits, with too-small identities reported."""

import numpy as np
import pytest
from PIL import Image

from conftest import LFW, copy_people
from forget_desktop.core.common.errors import ForgetError
from forget_desktop.core.common.images import load_rgb
from forget_desktop.core.data.dataset import resolve_identities, scan_identities


def as_names(samples):
    return [s.path.name for s in samples]


def test_lfw_split_is_deterministic_and_covers_everyone():
    first = scan_identities(LFW, seed=3)
    again = scan_identities(LFW, seed=3)
    other = scan_identities(LFW, seed=4)
    assert len(first.classes) == 62 and len(first.train) + len(first.heldout) == 3023
    assert as_names(first.heldout) == as_names(again.heldout) and first.fingerprint == again.fingerprint
    assert as_names(first.heldout) != as_names(other.heldout)
    counts = first.counts()
    assert all(train >= 1 and held >= 1 for train, held in counts.values())
    assert counts["George_W_Bush"] == (424, 106)  # 20 % of 530 held out


def test_one_persons_split_does_not_depend_on_the_others(tmp_path):
    gallery = copy_people(tmp_path, {"Ariel_Sharon": 20, "Colin_Powell": 10, "Tony_Blair": 10})
    before = scan_identities(gallery, seed=1)
    copy_people(gallery, {"Hugo_Chavez": 10})
    after = scan_identities(gallery, seed=1)
    sharon = lambda split: [s.path.name for s in split.heldout if "Sharon" in s.path.name]  # noqa: E731
    assert sharon(before) == sharon(after) and len(sharon(before)) == 4


def test_small_identities_are_reported_not_used(tmp_path):
    gallery = copy_people(tmp_path, {"Ariel_Sharon": 6, "Colin_Powell": 6, "Tony_Blair": 3})
    (gallery / "Nobody").mkdir()
    split = scan_identities(gallery, min_images=5)
    assert split.classes == ["Ariel_Sharon", "Colin_Powell"]
    assert split.skipped == {"Nobody": "0 images, needs 5", "Tony_Blair": "3 images, needs 5"}


def test_every_listed_format_and_grey_images_are_read(tmp_path):
    source = sorted((LFW / "Ariel_Sharon").iterdir())[0]
    image = Image.open(source)
    person = tmp_path / "Ariel_Sharon"
    person.mkdir()
    image.save(person / "a.png")
    image.save(person / "b.bmp")
    image.save(person / "c.webp")
    image.convert("L").save(person / "d.pgm")
    image.save(person / "e.jpg")
    copy_people(tmp_path, {"Colin_Powell": 5})
    split = scan_identities(tmp_path, min_images=5)
    assert split.counts()["Ariel_Sharon"] == (4, 1)
    for path in sorted(person.iterdir()):
        rgb = load_rgb(path)
        assert rgb.shape == (250, 250, 3) and rgb.dtype == np.uint8


def test_identity_selection_by_count_and_by_name(tmp_path):
    largest = scan_identities(LFW, identities=3)
    assert largest.classes == ["Colin_Powell", "George_W_Bush", "Tony_Blair"]
    named = scan_identities(LFW, identities=["tony blair", "Hugo_Chavez"])
    assert named.classes == ["Hugo_Chavez", "Tony_Blair"]
    with pytest.raises(ForgetError, match="Unknown identity: Nobody Here"):
        resolve_identities(["Nobody Here"], largest.classes)


def test_missing_or_empty_folder_is_one_sentence(tmp_path):
    with pytest.raises(ForgetError, match="does not exist"):
        scan_identities(tmp_path / "missing")
    with pytest.raises(ForgetError, match="no identity sub-folders"):
        scan_identities(tmp_path)

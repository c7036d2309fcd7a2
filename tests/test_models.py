"""Backbones, pretrained weights, safe checkpoints and device choice."""

import pickle

import pytest
import torch

from conftest import MOBILEFACENET
from forget_desktop.core.common.devices import pick_device
from forget_desktop.core.common.errors import ForgetError
from forget_desktop.core.common.paths import torch_checkpoints_dir
from forget_desktop.core.model.checkpoint import load_checkpoint, make_meta, save_checkpoint
from forget_desktop.core.model.models import (
    FaceClassifier,
    build_classifier,
    folded_trunk,
    inference_copy,
    pretrained_weights_path,
)
from forget_desktop.core.unlearning.job import same_bits


def test_mobilefacenet_weights_load_strictly_and_embed_faces():
    model, start = build_classifier("mobilefacenet", 5, MOBILEFACENET)
    assert start["weights_sha256"].startswith("90a00ba1")
    model.eval()
    x = torch.randn(2, 3, 112, 112)
    assert model.features(x).shape == (2, 128) and model(x).shape == (2, 5)


def model_and_input(backbone: str) -> tuple[FaceClassifier, torch.Tensor]:
    """A 4-class classifier on ``backbone`` (mobilefacenet with its real weights) and three random inputs."""
    model, _ = build_classifier(backbone, 4, MOBILEFACENET if backbone == "mobilefacenet" else None)
    side, channels = {"mobilefacenet": (112, 3), "facenet-scratch": (160, 3), "mnist-cnn": (28, 1)}[backbone]
    return model, torch.rand(3, channels, side, side) * 2 - 1


def has_batchnorm(module: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


@pytest.mark.parametrize("backbone", ["mobilefacenet", "facenet-scratch", "mnist-cnn"])
def test_the_answering_copy_folds_every_batchnorm_and_answers_the_same(backbone):
    """What names faces in the window and embeds a gallery: BatchNorm folded away, the same answers."""
    model, x = model_and_input(backbone)
    model.eval()
    answering = inference_copy(model)
    assert not has_batchnorm(answering)
    with torch.no_grad():
        expected, got = model.features(x), answering.features(x)
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
        assert torch.equal(answering(x).argmax(1), model(x).argmax(1))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), "the model itself was changed"


@pytest.mark.parametrize("backbone", ["mobilefacenet", "facenet-scratch", "mnist-cnn"])
def test_the_folded_trunk_gives_the_trunk_and_the_top_still_answers_the_same(backbone):
    """What unlearning methods that change only the top run the trunk with: BatchNorm folded, the same
    activations, so top(folded trunk) names as the whole model does; the model itself is left as it was."""
    model, x = model_and_input(backbone)
    model.train()
    trunk = folded_trunk(model)
    assert not has_batchnorm(trunk)
    assert model.training, "folding changed the model's mode"
    model.eval()
    with torch.no_grad():
        expected, got = model.trunk(x), trunk(x)
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
        assert torch.allclose(model.top(got), model(x), rtol=1e-3, atol=1e-4 * float(model(x).abs().max()))


def test_missing_vggface2_weights_name_the_path_and_the_choices():
    with pytest.raises(ForgetError) as caught:
        pretrained_weights_path("facenet-vggface2")
    message = str(caught.value)
    assert str(torch_checkpoints_dir() / "20180402-114759-vggface2.pt") in message
    assert "download them first, or choose another backbone" in message
    assert caught.value.item == "vggface2"  # the window offers this download


def test_facenet_backbones_build():
    model, start = build_classifier("facenet-scratch", 3)
    assert start["weights"] is None
    model.eval()
    assert model(torch.randn(2, 3, 160, 160)).shape == (2, 3)


def test_wrong_weights_file_is_refused(tmp_path):
    wrong = tmp_path / "w.pt"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ForgetError, match="does not match the mobilefacenet architecture"):
        build_classifier("mobilefacenet", 2, wrong)


def test_checkpoint_roundtrip_keeps_weights_and_metadata(tmp_path):
    model, start = build_classifier("mobilefacenet", 3, MOBILEFACENET)
    meta = make_meta(
        model,
        ["a", "b", "c"],
        split={"seed": 7, "heldout_fraction": 0.2},
        start=start,
        recipe={"epochs": 1},
        metrics={"heldout_acc": 0.5},
    )
    path = save_checkpoint(model, meta, tmp_path / "m.ckpt")
    loaded = load_checkpoint(path)
    assert loaded.classes == ["a", "b", "c"] and loaded.meta["split"]["seed"] == 7
    assert loaded.crop.name == "arcface112" and loaded.meta["parent"] is None
    for key, value in model.state_dict().items():
        assert same_bits(value, loaded.model.state_dict()[key]), key
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"


def test_checkpoint_with_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.ckpt"
    torch.save({"format": "forget-desktop-checkpoint/1", "meta": Exploit()}, evil, pickle_protocol=2)
    with pytest.raises(ForgetError, match="refused"):
        load_checkpoint(evil)
    assert not marker.exists()
    plain = tmp_path / "plain.ckpt"
    plain.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ForgetError):
        load_checkpoint(plain)


def test_truncated_or_foreign_checkpoint_is_one_sentence(tmp_path):
    model = FaceClassifier("mnist-cnn", 10)
    meta = make_meta(model, [str(i) for i in range(10)], split={}, start={}, recipe={}, metrics={})
    good = save_checkpoint(model, meta, tmp_path / "good.ckpt")
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ForgetError, match="damaged or truncated"):
        load_checkpoint(cut)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weight": torch.zeros(2)}, foreign)
    noise = tmp_path / "noise.ckpt"
    noise.write_bytes(bytes(range(256)) * 64)
    notes = tmp_path / "notes.ckpt"
    notes.write_text("my model, trained last week\n")
    for path in (foreign, noise, notes):
        with pytest.raises(ForgetError) as caught:
            load_checkpoint(path)
        assert str(caught.value) == f"'{path.name}' is not a model file this app made."
    with pytest.raises(ForgetError) as caught:
        load_checkpoint("/dev/null")
    assert str(caught.value) == "'null' is not a model file this app made."


def test_pick_device_prefers_accelerators_and_validates_choices():
    expected = "mps" if torch.backends.mps.is_available() else "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"
    if not torch.backends.mps.is_available():
        with pytest.raises(ForgetError, match="MPS device is not available"):
            pick_device("mps")
    with pytest.raises(ForgetError, match="Unknown device"):
        pick_device("tpu")

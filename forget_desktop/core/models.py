"""Backbones, the FaceClassifier (backbone + linear head) and where pretrained weights come from."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from .atomic import sha256_file
from .crops import ARCFACE_112, FACENET_160, MNIST_28, CropSpec
from .errors import ForgetError
from .mobilefacenet import MobileFaceNet
from .paths import data_dir, torch_checkpoints_dir

VGGFACE2_FILE = "20180402-114759-vggface2.pt"
VGGFACE2_URL = ("https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
                + VGGFACE2_FILE)
MOBILEFACENET_ENV = "FORGET_MOBILEFACENET_WEIGHTS"


@dataclass(frozen=True)
class BackboneInfo:
    """What the app knows about one backbone choice."""

    name: str
    crop: CropSpec
    embedding_size: int
    pretrained: bool
    description: str


BACKBONES: dict[str, BackboneInfo] = {info.name: info for info in (
    BackboneInfo("mobilefacenet", ARCFACE_112, 128, True,
                 "MobileFaceNet, pretrained face embeddings: the fast choice on a CPU"),
    BackboneInfo("facenet-vggface2", FACENET_160, 512, True,
                 "InceptionResnetV1 pretrained on VGGFace2 (107 MB download)"),
    BackboneInfo("facenet-scratch", FACENET_160, 512, False,
                 "InceptionResnetV1 from scratch: slow, needs a GPU for the full gallery"),
    BackboneInfo("mnist-cnn", MNIST_28, 128, False, "small CNN for MNIST digits"),
)}


class MnistNet(nn.Module):
    """Two conv blocks and a 128-unit layer: 28×28 grey digit → 128-d features."""

    embedding_size = 128

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                    nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                    nn.MaxPool2d(2)]

        self.features = nn.Sequential(*block(1, 32), *block(32, 64))
        self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.fc(self.features(x))


def _facenet_trunk() -> nn.Module:
    from facenet_pytorch import InceptionResnetV1

    net = InceptionResnetV1(pretrained=None, classify=False)
    net.classify, net.logits = True, nn.Identity()  # forward() then returns the un-normalised 512-d
    return net


# The last stage of each backbone: what an unlearning method with scope "top" may change.
TOP_LAYERS = {
    "mobilefacenet": ("features.12", "features.13", "features.14", "conv2", "gdconv", "conv3", "bn"),
    "facenet-vggface2": ("repeat_3", "block8", "last_linear", "last_bn"),
    "facenet-scratch": ("repeat_3", "block8", "last_linear", "last_bn"),
    "mnist-cnn": tuple(f"features.{i}" for i in range(7, 14)) + ("fc",),  # the second conv block + fc
}


class FaceClassifier(nn.Module):
    """A backbone producing features and a linear head naming the identities (or digits)."""

    def __init__(self, backbone: str, num_classes: int) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ForgetError(f"Unknown backbone '{backbone}': choose one of {', '.join(BACKBONES)}.")
        self.backbone_name = backbone
        info = BACKBONES[backbone]
        self.backbone = {"mobilefacenet": MobileFaceNet, "mnist-cnn": MnistNet}.get(
            backbone, _facenet_trunk)()
        self.head = nn.Linear(info.embedding_size, num_classes)
        self.to(memory_format=torch.channels_last)  # 10–40 % faster convolutions on CPU and GPU

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone up to its last stage (frozen when an unlearning method's scope is "top")."""
        b = self.backbone
        if self.backbone_name == "mobilefacenet":
            return b.features[:12](b.dw_conv(b.conv1(x)))
        if self.backbone_name == "mnist-cnn":
            return b.features[:7](x)
        for layer in (b.conv2d_1a, b.conv2d_2a, b.conv2d_2b, b.maxpool_3a, b.conv2d_3b, b.conv2d_4a, b.conv2d_4b,
                      b.repeat_1, b.mixed_6a, b.repeat_2, b.mixed_7a):
            x = layer(x)
        return x

    def top(self, h: torch.Tensor) -> torch.Tensor:
        """Logits from ``trunk`` activations: ``top(trunk(x)) == forward(x)``."""
        b = self.backbone
        if self.backbone_name == "mobilefacenet":
            h = b.conv3(b.gdconv(b.conv2(b.features[12:](h))))
            return self.head(b.bn(h).flatten(1))
        if self.backbone_name == "mnist-cnn":
            return self.head(b.fc(b.features[7:](h)))
        h = b.dropout(b.avgpool_1a(b.block8(b.repeat_3(h))))
        return self.head(b.last_bn(b.last_linear(h.view(h.shape[0], -1))))

    def top_parameters(self) -> set[str]:
        """Names of the parameters in the backbone's last stage and the head."""
        prefixes = tuple(f"backbone.{p}" for p in TOP_LAYERS[self.backbone_name]) + ("head",)
        return {name for name, _ in self.named_parameters()
                if any(name == p or name.startswith(p + ".") for p in prefixes)}

    @property
    def crop(self) -> CropSpec:
        return BACKBONES[self.backbone_name].crop

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (the embedding the head reads)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))



@contextlib.contextmanager
def trainable(model: FaceClassifier, scope: str) -> Iterator[list[nn.Parameter]]:
    """Within the block only ``scope`` ("all" or "top") gets gradients; yields those parameters.

    With "top", back-propagation stops at the backbone's last stage, which makes a step several
    times cheaper. Every parameter is trainable again afterwards.
    """
    allowed = model.top_parameters() if scope == "top" else None
    chosen = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(allowed is None or name in allowed)
        if parameter.requires_grad:
            chosen.append(parameter)
    try:
        yield chosen
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)


def default_mobilefacenet_weights() -> Path:
    """$FORGET_MOBILEFACENET_WEIGHTS, else <app data>/models/mobilefacenet.pt."""
    return Path(os.environ.get(MOBILEFACENET_ENV) or data_dir() / "models" / "mobilefacenet.pt")


def pretrained_weights_path(backbone: str, weights: str | os.PathLike | None = None) -> Path | None:
    """The weights file a backbone starts from, checked to exist; None for from-scratch backbones."""
    if not BACKBONES[backbone].pretrained:
        return None
    if weights:
        path = Path(weights).expanduser()
    elif backbone == "mobilefacenet":
        path = default_mobilefacenet_weights()
    else:
        path = torch_checkpoints_dir() / VGGFACE2_FILE
    if path.is_file():
        return path
    if backbone == "mobilefacenet":
        raise ForgetError(f"MobileFaceNet weights were not found at {path}: pass --weights FILE, set "
                          f"{MOBILEFACENET_ENV}, or choose facenet-scratch.")
    raise ForgetError(f"The VGGFace2 weights are not at {path}: download them (107 MB, needs "
                      "internet, `--download-weights`), or choose mobilefacenet or facenet-scratch.")


def load_pretrained(model: FaceClassifier, path: Path) -> None:
    """Load a backbone's pretrained weights (plain state_dict, ``weights_only``) strictly."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure becomes one sentence
        raise ForgetError(f"'{path.name}' is not a usable weights file ({type(error).__name__}).") from None
    if not isinstance(state, dict):
        raise ForgetError(f"'{path.name}' does not hold a state_dict.")
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    try:
        model.backbone.load_state_dict(state, strict=True)
    except RuntimeError:
        raise ForgetError(f"'{path.name}' does not match the {model.backbone_name} architecture.") from None


def build_classifier(backbone: str, num_classes: int, weights: str | os.PathLike | None = None,
                     seed: int = 0) -> tuple[FaceClassifier, dict]:
    """A fresh classifier on its starting point, and a description of that starting point."""
    torch.manual_seed(seed)
    model = FaceClassifier(backbone, num_classes)
    path = pretrained_weights_path(backbone, weights)
    start = {"backbone": backbone, "seed": seed, "weights": None, "weights_sha256": None}
    if path is not None:
        load_pretrained(model, path)
        start.update(weights=str(path.resolve()), weights_sha256=sha256_file(path))
    return model, start

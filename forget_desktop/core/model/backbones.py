"""The backbones the app knows, in one registry: crop, embedding size, recipe, the split between the
frozen trunk and the last stage, where pretrained weights come from, and a line for the user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..common.errors import ForgetError
from ..faces.crops import ARCFACE_112, FACENET_160, MNIST_28, CropSpec
from .mobilefacenet import MobileFaceNet
from .training import Recipe

KINDS = ("embedding", "finetuned")


@dataclass(frozen=True)
class Backbone:
    """One backbone choice. ``trunk``/``top`` split its forward pass at the last stage (``top_layers``):
    ``top(trunk(x)) == build()(x)``, and an unlearning method with scope "top" changes only the top."""

    name: str
    crop: CropSpec
    embedding_size: int
    description: str
    recipe: Recipe  # how the fine-tuned kind trains it
    top_layers: tuple[str, ...]
    build: Callable[[], nn.Module]
    trunk: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    top: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    weights: str | None = None  # name of the pretrained weights download (downloads.ITEMS); None: from scratch

    @property
    def pretrained(self) -> bool:
        return self.weights is not None

    @property
    def kinds(self) -> tuple[str, ...]:
        """Model kinds it supports: a frozen embedding needs pretrained weights."""
        return KINDS if self.pretrained else ("finetuned",)

    @property
    def default_kind(self) -> str:
        return self.kinds[0]


class MnistNet(nn.Module):
    """Two conv blocks and a 128-unit layer: 28×28 grey digit → 128-d features."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]

        self.features = nn.Sequential(*block(1, 32), *block(32, 64))
        self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.fc(self.features(x))


def _facenet() -> nn.Module:
    from facenet_pytorch import InceptionResnetV1

    net = InceptionResnetV1(pretrained=None, classify=False)
    net.classify, net.logits = True, nn.Identity()  # forward() then returns the un-normalised 512-d
    return net


def _through(layers, x):
    """``x`` through each layer in turn (the layers themselves, not a new Sequential of them, so that the
    trunk can be traced and its BatchNorms folded: ``models.folded_trunk``)."""
    for layer in layers:
        x = layer(x)
    return x


def _mobilefacenet_trunk(b, x):
    return _through(list(b.features)[:12], b.dw_conv(b.conv1(x)))


def _mobilefacenet_top(b, h):
    return b.bn(b.conv3(b.gdconv(b.conv2(b.features[12:](h))))).flatten(1)


def _facenet_trunk(b, x):
    layers = (
        b.conv2d_1a,
        b.conv2d_2a,
        b.conv2d_2b,
        b.maxpool_3a,
        b.conv2d_3b,
        b.conv2d_4a,
        b.conv2d_4b,
        b.repeat_1,
        b.mixed_6a,
        b.repeat_2,
        b.mixed_7a,
    )
    return _through(layers, x)


def _facenet_top(b, h):
    h = b.dropout(b.avgpool_1a(b.block8(b.repeat_3(h))))
    return b.last_bn(b.last_linear(h.view(h.shape[0], -1)))


FACENET_TOP = ("repeat_3", "block8", "last_linear", "last_bn")

BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone(
            "mobilefacenet",
            ARCFACE_112,
            128,
            "MobileFaceNet, pretrained face embeddings (4 MB): the fast choice on a CPU",
            Recipe(epochs=4, batch_size=64, lr=0.01, head_lr_scale=10.0, freeze_bn=True, shift=4),
            ("features.12", "features.13", "features.14", "conv2", "gdconv", "conv3", "bn"),
            MobileFaceNet,
            _mobilefacenet_trunk,
            _mobilefacenet_top,
            weights="mobilefacenet",
        ),
        Backbone(
            "facenet-vggface2",
            FACENET_160,
            512,
            "InceptionResnetV1 pretrained on VGGFace2 (107 MB download)",
            Recipe(epochs=4, batch_size=64, lr=0.01, head_lr_scale=10.0, freeze_bn=True, shift=6),
            FACENET_TOP,
            _facenet,
            _facenet_trunk,
            _facenet_top,
            weights="vggface2",
        ),
        Backbone(
            "facenet-scratch",
            FACENET_160,
            512,
            "InceptionResnetV1 trained from scratch: slow, needs a GPU for the whole gallery",
            Recipe(epochs=40, batch_size=64, lr=0.1, shift=8, label_smoothing=0.1),
            FACENET_TOP,
            _facenet,
            _facenet_trunk,
            _facenet_top,
        ),
        Backbone(
            "mnist-cnn",
            MNIST_28,
            128,
            "small CNN for MNIST digits",
            Recipe(epochs=4, batch_size=128, lr=0.05, flip=False, shift=2),
            tuple(f"features.{i}" for i in range(7, 14)) + ("fc",),
            MnistNet,
            lambda b, x: _through(list(b.features)[:7], x),
            lambda b, h: b.fc(b.features[7:](h)),
        ),
    )
}

FACE_BACKBONES = tuple(name for name in BACKBONES if name != "mnist-cnn")


def get_backbone(name: str) -> Backbone:
    """The registered backbone called ``name``, or one sentence listing the choices."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ForgetError(f"Unknown backbone '{name}': choose one of {', '.join(BACKBONES)}.") from None


def check_kind(backbone: str, kind: str | None) -> str:
    """``kind`` (or the backbone's default), refused in one sentence where the backbone cannot have it."""
    info = get_backbone(backbone)
    kind = kind or info.default_kind
    if kind not in KINDS:
        raise ForgetError(f"Unknown model kind '{kind}': choose {' or '.join(KINDS)}.")
    if kind not in info.kinds:
        raise ForgetError(
            f"{backbone} has no pretrained weights, so it can only be trained as a fine-tuned model (--kind finetuned)."
        )
    return kind

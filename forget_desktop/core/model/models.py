"""The FaceClassifier (backbone + head) in its two kinds, and where pretrained weights come from.

- ``finetuned``: the backbone learns with a linear head; forgetting is approximate (or a retrain). One
  that starts from pretrained weights also keeps an *anchor*: an embedding model of the same people on
  the frozen starting weights, which decides Unknown (see ``openset``).
- ``embedding``: the pretrained backbone stays frozen and only a ``CentroidHead`` is learned, from
  cached embeddings; forgetting is exact and takes a fraction of a second.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.fx.experimental.optimization import fuse

from ..common.atomic import sha256_file
from ..common.downloads import ITEMS, weights_destination
from ..common.errors import ForgetError
from ..faces.crops import EMBEDDING, CropSpec
from .backbones import check_kind, get_backbone
from .heads import OpenSetHead, make_head


class MissingWeights(ForgetError):
    """A backbone's pretrained weights file is not there yet; ``item`` names the download that fetches it."""

    def __init__(self, item: str, path: Path, how: str = "download them first") -> None:
        details = ITEMS[item]
        super().__init__(
            f"The {details.title} weights ({details.size_text}) are not on this computer "
            f"(looked for {path}): {how}, or choose another backbone."
        )
        self.item, self.path = item, path


# How a frozen backbone's embeddings are computed: (crops per batch, BatchNorm folded). CPU kernels give other
# bits for another batch size or a folded network, and an exact forget is identical to a retrain only if
# both read the same bits: a model keeps the recipe it was trained with (``embed_recipe`` in its metadata).
EMBED_RECIPES = {"b16": (16, False), "b8-folded": (8, True)}
EMBED_RECIPE = "b8-folded"  # new models: eight crops stay in a CPU's cache, 4.4 ms a face against 6.6 ms
LEGACY_EMBED_RECIPE = "b16"  # models whose metadata names none


class FaceClassifier(nn.Module):
    """A backbone producing features and a head naming the identities (or digits)."""

    def __init__(self, backbone: str, num_classes: int, kind: str = "finetuned", anchored: bool = False) -> None:
        super().__init__()
        info = get_backbone(backbone)
        self.backbone_name, self.kind = backbone, check_kind(backbone, kind)
        self.embed_recipe = EMBED_RECIPE
        self.backbone = info.build()
        self.head: OpenSetHead = make_head(self.kind, info.embedding_size, num_classes)
        self.anchor: FaceClassifier | None = None
        if self.kind == "embedding":
            self.backbone.requires_grad_(False)
        elif anchored:
            self.anchor = FaceClassifier(backbone, num_classes, "embedding").requires_grad_(False)
        self.to(memory_format=torch.channels_last)  # 10–40 % faster convolutions on CPU and GPU

    def train(self, mode: bool = True) -> FaceClassifier:
        super().train(mode)
        if self.kind == "embedding":
            self.backbone.eval()  # frozen: its BatchNorm statistics never move
        if self.anchor is not None:
            self.anchor.eval()  # never learns
        return self

    def set_anchor(self, anchor: FaceClassifier | None) -> None:
        """Give this model ``anchor`` (an embedding model of the same people, never trained), or none."""
        self.anchor = None if anchor is None else anchor.requires_grad_(False).eval()

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Everything below the part an unlearning method with scope "top" may change."""
        if self.kind == "embedding":
            return self.backbone(x)
        return get_backbone(self.backbone_name).trunk(self.backbone, x)

    def top(self, h: torch.Tensor) -> torch.Tensor:
        """Logits from ``trunk`` activations: ``top(trunk(x)) == forward(x)``."""
        if self.kind == "embedding":
            return self.head(h)
        return self.head(get_backbone(self.backbone_name).top(self.backbone, h))

    def top_parameters(self) -> set[str]:
        """Names of the parameters a method with scope "top" may change."""
        layers = () if self.kind == "embedding" else get_backbone(self.backbone_name).top_layers
        prefixes = tuple(f"backbone.{p}" for p in layers) + ("head",)
        return {
            name for name, _ in self.named_parameters() if any(name == p or name.startswith(p + ".") for p in prefixes)
        }

    def learnable_parameters(self) -> set[str]:
        """Names of the parameters training may change (never a frozen backbone, never the anchor)."""
        if self.kind == "embedding":
            return self.top_parameters()
        return {n for n, _ in self.named_parameters() if not n.startswith("anchor.")}

    @property
    def crop(self) -> CropSpec:
        return get_backbone(self.backbone_name).crop

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (the embedding the head reads)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class LearnedHead(nn.Module):
    """What an embedding model learns, on its own: the head, reading embeddings (spec ``EMBEDDING``).

    Unlearning methods, evaluation and training run on this and on embedding sets exactly as they run
    on a whole model and face crops; ``with_head`` puts the result back on the frozen backbone."""

    kind = "embedding"
    crop = EMBEDDING

    def __init__(self, head: OpenSetHead) -> None:
        super().__init__()
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def top(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(h)

    def top_parameters(self) -> set[str]:
        return {name for name, _ in self.named_parameters()}

    learnable_parameters = top_parameters


def inference_copy(model: FaceClassifier) -> FaceClassifier:
    """An eval-mode copy that only answers: every BatchNorm folded into the convolution before it.

    The same outputs to float rounding (about 1e-8 here) and 10–25 % less time per face on a CPU, where the
    window names faces and a gallery's embeddings are computed. Never train the copy."""
    answering = copy.deepcopy(model).eval()  # an anchor comes along, folded the same way
    for part in (answering, getattr(answering, "anchor", None)):
        if part is not None:
            part.backbone = fuse(part.backbone)
    return answering


class _Trunk(nn.Module):
    """``model.trunk`` as a module of its own, so that it can be traced."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.trunk(x)


def folded_trunk(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model.trunk`` with every BatchNorm folded into the convolution before it: the
    same activations to float rounding (about 1e-6 of their size) in 35–45 % less time on a CPU. For methods
    that change only ``model.top``, whose trunk stays as it is; never train it."""
    return fuse(_Trunk(copy.deepcopy(model).eval()))


def with_head(model: FaceClassifier, head: OpenSetHead, anchor: FaceClassifier | None = None) -> FaceClassifier:
    """A new classifier: ``model``'s backbone carrying a copy of ``head`` (and a copy of ``anchor``)."""
    combined = FaceClassifier(model.backbone_name, head.out_features, model.kind)
    combined.embed_recipe = model.embed_recipe
    combined.backbone.load_state_dict(model.backbone.state_dict())
    combined.head = copy.deepcopy(head).cpu()
    combined.set_anchor(None if anchor is None else copy.deepcopy(anchor).cpu())
    return combined.eval()


@contextlib.contextmanager
def trainable(model: nn.Module, scope: str) -> Iterator[list[nn.Parameter]]:
    """Within the block only ``scope`` ("all" or "top") gets gradients; yields those parameters.

    With "top", back-propagation stops at the backbone's last stage, which makes a step several
    times cheaper. Afterwards every parameter is as it was (a frozen backbone stays frozen).
    """
    allowed = model.top_parameters() if scope == "top" else model.learnable_parameters()
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    chosen = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in allowed)
        if parameter.requires_grad:
            chosen.append(parameter)
    try:
        yield chosen
    finally:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(before[name])


def pretrained_weights_path(backbone: str, weights: str | os.PathLike | None = None) -> Path | None:
    """The weights file a backbone starts from, checked to exist; None for from-scratch backbones."""
    info = get_backbone(backbone)
    if not info.pretrained:
        return None
    item = ITEMS[info.weights]
    path = Path(weights).expanduser() if weights else weights_destination(item)
    if path.is_file():
        return path
    raise MissingWeights(item.name, path)


def load_pretrained(model: FaceClassifier, path: Path) -> None:
    """Load a backbone's pretrained weights (plain state_dict, ``weights_only``) strictly."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unpickling failure becomes one sentence
        raise ForgetError(f"'{path.name}' is not a weights file this app can use.") from None
    if not isinstance(state, dict):
        raise ForgetError(f"'{path.name}' does not hold a state_dict.")
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    try:
        model.backbone.load_state_dict(state, strict=True)
    except RuntimeError:
        raise ForgetError(f"'{path.name}' does not match the {model.backbone_name} architecture.") from None


def build_classifier(
    backbone: str, num_classes: int, weights: str | os.PathLike | None = None, seed: int = 0, kind: str | None = None
) -> tuple[FaceClassifier, dict]:
    """A fresh classifier on its starting point, and a description of that starting point. A fine-tuned
    model that starts from pretrained weights gets its anchor on those same weights."""
    torch.manual_seed(seed)
    model = FaceClassifier(backbone, num_classes, check_kind(backbone, kind))
    path = pretrained_weights_path(backbone, weights)
    start = {"backbone": backbone, "seed": seed, "weights": None, "weights_sha256": None}
    if path is not None:
        load_pretrained(model, path)
        start.update(weights=str(path.resolve()), weights_sha256=sha256_file(path))
        if model.kind == "finetuned":
            anchor = FaceClassifier(backbone, num_classes, "embedding")
            anchor.backbone.load_state_dict(model.backbone.state_dict())
            model.set_anchor(anchor)
    return model, start

"""Training recipes and the loops that fit, score and embed a FaceClassifier on a CropSet."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..common.errors import ForgetError
from ..common.jobs import Progress, Throttle
from ..faces.crops import CropSet, CropSpec, to_input


@dataclass(frozen=True)
class Recipe:
    """Everything that decides how a model is trained (stored in each checkpoint)."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 5e-4
    momentum: float = 0.9
    head_lr_scale: float = 1.0  # the new linear head may learn faster than a pretrained backbone
    freeze_bn: bool = False  # keep BatchNorm statistics fixed (fine-tuning with small batches)
    flip: bool = True
    shift: int = 0  # random translation in pixels (pad-and-crop)
    label_smoothing: float = 0.0
    head: str = "linear"  # "linear": trained with the backbone; "centroid": fitted over frozen embeddings

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def with_epochs(self, epochs: int | None) -> Recipe:
        return self if not epochs else replace(self, epochs=epochs)


MIN_STEPS = 30  # a small gallery still gets this many optimisation steps
MAX_GRAD_NORM = 5.0  # a step's gradient is clipped to this norm: tiny batches of near-alike faces cannot blow up


def set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """Training mode, except BatchNorm layers stay in eval mode when ``freeze_bn``."""
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def augment(crops: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and small shifts of uint8 N×C×H×W crops (embeddings pass unchanged)."""
    if crops.dim() != 4:
        return crops
    if recipe.flip:
        flip = torch.rand(len(crops), generator=generator) < 0.5
        crops = torch.where(flip.view(-1, 1, 1, 1), crops.flip(3), crops)
    if recipe.shift:
        pad = recipe.shift
        padded = F.pad(crops, (pad, pad, pad, pad))
        dx, dy = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
        crops = padded[:, :, dy : dy + crops.shape[2], dx : dx + crops.shape[3]]
    return crops


def batches(
    data: CropSet, batch_size: int, generator: torch.Generator | None = None, drop_last: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(uint8 crops, labels) batches; shuffled when a generator is given."""
    order = torch.randperm(len(data), generator=generator) if generator is not None else torch.arange(len(data))
    stop = len(data) - (len(data) % batch_size if drop_last and len(data) > batch_size else 0)
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield data.images[index], data.labels[index]


def make_optimizer(
    model: nn.Module, recipe: Recipe, lr: float | None = None, weight_decay: float | None = None
) -> torch.optim.Optimizer:
    """SGD with momentum over the parameters that need gradients; the head learns
    ``head_lr_scale`` times faster than the backbone."""
    lr = recipe.lr if lr is None else lr
    weight_decay = recipe.weight_decay if weight_decay is None else weight_decay
    head_ids = {id(p) for p in model.head.parameters()}
    head = [p for p in model.head.parameters() if p.requires_grad]
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    groups = [g for g in ({"params": body, "lr": lr}, {"params": head, "lr": lr * recipe.head_lr_scale}) if g["params"]]
    return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum, weight_decay=weight_decay, nesterov=True)


def schedule(recipe: Recipe, examples: int) -> tuple[int, int]:
    """(batch size, epochs) for ``examples`` training crops: the recipe's, except that a small gallery
    gets smaller batches (at least four per pass) and enough passes for ``MIN_STEPS`` steps."""
    batch_size = max(2, min(recipe.batch_size, examples // 4))
    steps_per_epoch = max(1, examples // batch_size)
    return batch_size, max(recipe.epochs, math.ceil(MIN_STEPS / steps_per_epoch))


def fit(
    model: nn.Module,
    data: CropSet,
    recipe: Recipe,
    device: torch.device,
    progress: Progress | None = None,
    seed: int = 0,
) -> dict:
    """Train with SGD and a one-cycle schedule; returns the loss history."""
    progress = progress or Progress()
    if len(data) < 2:
        raise ForgetError("Training needs at least two photos with a usable face.")
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    optimizer = make_optimizer(model, recipe)
    batch_size, epochs = schedule(recipe, len(data))
    steps_per_epoch = max(1, len(data) // batch_size)
    total = epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=total, pct_start=0.25
    )
    throttle, step, losses = Throttle(0.2), 0, []
    for epoch in range(epochs):
        set_train_mode(model, recipe.freeze_bn)
        running, count = 0.0, 0
        for crops, labels in batches(data, batch_size, generator, drop_last=True):
            crops = augment(crops, recipe, generator).to(device)
            logits = model(to_input(crops, data.spec))
            loss = F.cross_entropy(logits, labels.to(device), label_smoothing=recipe.label_smoothing)
            progress.check()  # cancel between the halves of a slow step too
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            progress.check()
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], MAX_GRAD_NORM)
            optimizer.step()
            scheduler.step()
            step += 1
            running, count = running + loss.item(), count + 1
            if throttle.ready() or step == total:
                progress(step / total, f"Epoch {epoch + 1}/{epochs}, loss {running / count:.3f}")
        losses.append(running / max(count, 1))
    model.eval()
    return {"loss": losses}


def inference_batch_size(device: torch.device) -> int:
    """Small batches on a CPU (they stay in cache: 2–3× faster per image here), large on a GPU."""
    return 16 if torch.device(device).type == "cpu" else 256


@torch.no_grad()
def features_and_logits(
    model: nn.Module,
    images: torch.Tensor,
    spec: CropSpec,
    device: torch.device,
    batch_size: int | None = None,
    progress: Progress | None = None,
    ready: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features and logits for uint8 crops (or embeddings), in eval mode, on the CPU.
    ``ready``: ``model`` is already in eval mode on ``device`` (an ``inference_copy`` naming frame after
    frame), so the walk over every module that puts it there, 5 ms a call here, is skipped."""
    batch_size = batch_size or (4096 if spec.align == "embedding" else inference_batch_size(device))
    if not ready:
        model.eval()
        model.to(device)
    feats, logits = [], []
    for start in range(0, len(images), batch_size):
        if progress is not None:
            progress(start / len(images))
        f = model.features(to_input(images[start : start + batch_size].to(device), spec))
        feats.append(f.float().cpu())
        logits.append(model.head(f).float().cpu())
    if not feats:
        return torch.zeros((0, model.head.in_features)), torch.zeros((0, model.head.out_features))
    return torch.cat(feats), torch.cat(logits)


def outputs(
    model: nn.Module,
    images: torch.Tensor,
    spec: CropSpec,
    device: torch.device,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Logits for uint8 crops (eval mode, on the CPU)."""
    return features_and_logits(model, images, spec, device, batch_size, progress)[1]


def accuracy(model: nn.Module, data: CropSet, device: torch.device) -> float:
    """Fraction of crops whose top prediction is their label (NaN for an empty set)."""
    if len(data) == 0:
        return math.nan
    predicted = outputs(model, data.images, data.spec, device).argmax(1)
    return float((predicted == data.labels).float().mean())

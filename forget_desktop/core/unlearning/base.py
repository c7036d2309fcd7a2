"""The one interface every unlearning method implements, its options, and shared training helpers.

A method is a function ``unlearn(model, retain, forget, config, progress) -> model``: it may change
``model`` in place and returns the unlearned model. It must call ``progress`` (which raises
``Cancelled`` once the user cancels) at least once per optimisation step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..common.errors import ForgetError
from ..common.jobs import Progress
from ..faces.crops import CropSet, to_input
from ..model.models import folded_trunk
from ..model.training import Recipe, augment, inference_batch_size, set_train_mode


@dataclass(frozen=True)
class Option:
    """One tunable knob of a method, with what the window needs to show it."""

    name: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def coerce(self, value: Any) -> Any:
        kind = type(self.default)
        if self.choices:
            if str(value) not in self.choices:
                raise ForgetError(f"Option {self.name} must be one of {', '.join(self.choices)}, not {value!r}.")
            return str(value)
        try:
            if kind is bool:
                value = value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes")
            else:
                value = kind(value)
        except (TypeError, ValueError):
            wanted = {bool: "true or false", int: "a whole number", float: "a number"}.get(kind, "a value of its kind")
            raise ForgetError(f"Option {self.name} must be {wanted}, not {value!r}.") from None
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise ForgetError(f"Option {self.name} must be between {self.minimum} and {self.maximum}.")
        return value


@dataclass
class UnlearnConfig:
    """What every method may use: device, seed, the original training recipe and starting point,
    and its own options (already merged with the method's defaults)."""

    device: torch.device
    recipe: Recipe
    start: dict = field(default_factory=dict)
    seed: int = 0
    options: dict = field(default_factory=dict)
    num_classes: int = 0


UnlearnFn = Callable[[torch.nn.Module, CropSet, CropSet, UnlearnConfig, Progress], torch.nn.Module]
# Estimated work of a run, in image forward passes: (forget photos, retain photos, options, recipe) -> cost.
CostFn = Callable[[int, int, dict, Recipe], float]


def no_cost(forget: int, retain: int, options: dict, recipe: Recipe) -> float:
    return 1.0


@dataclass(frozen=True)
class Method:
    """A registered unlearning method."""

    name: str
    title: str
    summary: str
    options: tuple[Option, ...]
    unlearn: UnlearnFn
    reference: bool = False  # True only for retraining from scratch
    exact: bool = False  # claims a result identical to the reference (the job checks every tensor)
    cost: CostFn = no_cost  # for the job's time-left estimate
    baseline: bool = False  # a known-weak baseline, kept for comparison: not claimed to forget
    # model kind (forgetting people) or "<kind> photos" (forgetting photos) -> the sentence the window shows
    cannot_meet: dict[str, str] = field(default_factory=dict)
    short: str = ""  # how a sentence names it, where the title is too long for one ("" : the title)

    def warning(self, kind: str, scope: str = "people") -> str:
        """What the window says before this method forgets people (or, ``scope`` "photos", photos) on a model
        of ``kind`` ("" when nothing)."""
        return self.cannot_meet.get(kind if scope == "people" else f"{kind} photos", "")

    def defaults(self) -> dict:
        return {option.name: option.default for option in self.options}

    def resolve(self, given: dict | None) -> dict:
        """Defaults overridden by ``given``; unknown names or bad values raise one sentence."""
        known = {option.name: option for option in self.options}
        unknown = sorted(set(given or {}) - set(known))
        if unknown:
            raise ForgetError(
                f"{self.title} has no option {', '.join(unknown)}; its options are {', '.join(known) or 'none'}."
            )
        return {**self.defaults(), **{k: known[k].coerce(v) for k, v in (given or {}).items()}}


class Batches:
    """Endless random batches from anything with ``images`` and ``labels`` (reshuffled every pass)."""

    def __init__(self, data, batch_size: int, generator: torch.Generator) -> None:
        self.data, self.batch_size, self.generator = data, max(1, min(batch_size, len(data))), generator
        self._order, self._at = torch.empty(0, dtype=torch.long), 0

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels, _ = self.next_with_index()
        return images, labels

    def next_with_index(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The next batch and the positions of its items in the data."""
        if self._at + self.batch_size > len(self._order):
            self._order, self._at = torch.randperm(len(self.data), generator=self.generator), 0
        index = self._order[self._at : self._at + self.batch_size]
        self._at += self.batch_size
        return self.data.images[index], self.data.labels[index], index


class FrozenTrunk:
    """``model.trunk`` for a method that changes only ``model.top`` (scope "top"), where the trunk stays as it
    is: BatchNorm folded into the convolutions once (``folded_trunk``), then run without gradients in
    cache-friendly batches on the config's device. About half of such a method's time went to the trunk."""

    def __init__(self, model, config: UnlearnConfig) -> None:
        self.module, self.device = folded_trunk(model), config.device

    @torch.no_grad()
    def __call__(self, crops: torch.Tensor, spec) -> torch.Tensor:
        batch = inference_batch_size(self.device)
        parts = [self.module(to_input(crops[i : i + batch].to(self.device), spec)) for i in range(0, len(crops), batch)]
        return torch.cat(parts) if parts else torch.zeros(0, device=self.device)


class TrunkCache:
    """Trunk activations of some crops, computed once without augmentation: with scope "top" nothing below
    the last stage changes, so a method can run only ``model.top`` on these at every step, several times
    cheaper than the whole network."""

    def __init__(self, trunk: FrozenTrunk, data: CropSet) -> None:
        self.images = trunk(data.images, data.spec)
        self.labels = data.labels

    def __len__(self) -> int:
        return len(self.labels)


MONITOR_PHOTOS = 256  # retain photos watched for early stopping


class TopInputs:
    """What a training method with scope "top" and no augmentation feeds its model: the forget photos'
    trunk activations, computed once, and each retain batch's, computed when it is drawn (a retain
    photo is usually seen about once). ``logits(x, data)`` then runs only ``model.top``."""

    def __init__(self, model, forget: CropSet, config: UnlearnConfig) -> None:
        self.model, self.source = model, forget
        self.frozen = FrozenTrunk(model, config)
        self.forget = TrunkCache(self.frozen, forget)

    def trunk(self, crops: torch.Tensor, data: CropSet) -> torch.Tensor:
        return self.frozen(crops, data.spec)

    def logits(self, x: torch.Tensor, data) -> torch.Tensor:
        """Logits of forget activations (``data`` is ``self.forget``) or of a batch of crops from ``data``."""
        return self.model.top(x if data is self.forget else self.trunk(x, data))


@torch.no_grad()
def unsaturated_temperature(logits: torch.Tensor, labels: torch.Tensor, loss: float = math.log(2)) -> float:
    """The temperature T at which the mean cross-entropy of ``logits / T`` on these photos is ``loss`` (at
    least 1). A fine-tuned model's logits on its training photos are far apart (margins of 20–50 here), so
    the softmax is saturated and the gradient of any loss on it vanishes; at T it is not."""
    labels = labels.to(logits.device)
    if len(labels) == 0 or F.cross_entropy(logits, labels).item() >= loss:
        return 1.0
    low, high = 1.0, 2.0
    while F.cross_entropy(logits / high, labels).item() < loss and high < 1e4:
        low, high = high, high * 2
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if F.cross_entropy(logits / middle, labels).item() < loss else (low, middle)
    return high


@torch.no_grad()
def forget_temperature(model, forget, chosen: float, floor: float = 1.0) -> float:
    """The temperature a method works at: ``chosen`` (an option), or where it is 0 the ``unsaturated_temperature``
    of the model's logits on ``forget`` (trunk activations: only ``model.top`` runs, in eval mode), at least
    ``floor``."""
    if chosen:
        return chosen
    model.eval()
    return max(floor, unsaturated_temperature(model.top(forget.images), forget.labels))


@torch.no_grad()
def recognised(model, data, batch: int, cached: bool, up_to: int | None = None) -> int:
    """How many photos of ``data`` (crops, or trunk activations when ``cached``) the model names as their
    own label (eval mode, no augmentation). With ``up_to`` it stops counting once more than that many are
    named: "is any still named?" needs one batch, not the whole set, while most still are."""
    model.eval()
    device = next(model.parameters()).device
    total = 0
    for i in range(0, len(data), batch):
        x = data.images[i : i + batch]
        logits = model.top(x) if cached else model(to_input(x.to(device), data.spec))
        total += int((logits.argmax(1).cpu() == data.labels[i : i + batch]).sum())
        if up_to is not None and total > up_to:
            break
    return total


def none_named(model, data, batch: int, cached: bool) -> bool:
    """No photo of ``data`` is named as its own label (``recognised`` stopping at the first that is)."""
    return recognised(model, data, batch, cached, up_to=0) == 0


class ForgetCheck:
    """Early stopping shared by the training methods: done once no forget photo is named as its person and
    a fixed sample of everyone else — held aside from the retain batches, so it behaves like unseen
    photos — is named as well as before (within ``tolerance``, a share of the sample)."""

    def __init__(
        self, model, forget, retain: CropSet, config: UnlearnConfig, generator, trunk=None, tolerance: float = 0.0
    ) -> None:
        """``trunk``: a ``FrozenTrunk`` when ``forget`` holds trunk activations (the sample is then cached the
        same way), None when it holds crops."""
        self.model, self.forget, self.cached = model, forget, trunk is not None
        self.batch, self.tolerance, self.monitor = config.recipe.batch_size, tolerance, None
        self.retain = retain
        if len(retain) > 2 * MONITOR_PHOTOS:
            mask = torch.zeros(len(retain), dtype=torch.bool)
            mask[torch.randperm(len(retain), generator=generator)[:MONITOR_PHOTOS]] = True
            sample = retain.where(mask)
            self.monitor = TrunkCache(trunk, sample) if self.cached else sample
            self.retain = retain.where(~mask)
            self.baseline = recognised(model, self.monitor, self.batch, self.cached) / len(self.monitor)

    def forgotten(self) -> bool:
        return none_named(self.model, self.forget, self.batch, self.cached)

    def done(self) -> bool:
        """The sample first: its 256 photos are cheaper than thousands of forget photos (five MNIST digits), which
        were checked at every step once none was named while the sample recovered (8 of NegGrad+'s 12 s)."""
        return self.recovered() and self.forgotten()

    def recovered(self) -> bool:
        """The held-aside sample is named as well as before (within ``tolerance``); True when there is none."""
        if self.monitor is None:
            return True
        named = recognised(self.model, self.monitor, self.batch, self.cached) / len(self.monitor)
        return named >= self.baseline - self.tolerance


def model_input(crops: torch.Tensor, data: CropSet, config: UnlearnConfig, generator: torch.Generator) -> torch.Tensor:
    """Augmented (as in training) and normalised input on the config's device."""
    return to_input(augment(crops, config.recipe, generator).to(config.device), data.spec)


def steps_for(data: CropSet, epochs: float, batch_size: int, minimum: int = 1) -> int:
    """Optimisation steps for ``epochs`` passes over ``data`` in batches of ``batch_size``."""
    return max(minimum, math.ceil(epochs * len(data) / max(1, min(batch_size, len(data)))))


def step_message(method: str, step: int, total: int, **losses: float) -> str:
    parts = ", ".join(f"{name} {value:.3f}" for name, value in losses.items())
    return f"{method}: step {step}/{total}" + (f", {parts}" if parts else "")


def train_steps(
    model,
    total: int,
    loss_at: Callable[[int], tuple[torch.Tensor, str, dict]],
    optimizer,
    progress: Progress,
    freeze_bn: bool,
    *,
    masks: dict[str, torch.Tensor] | None = None,
    weight_decay: float = 0.0,
    scheduler=None,
    stop: Callable[[int], bool] | None = None,
    clip: float | None = None,
) -> int:
    """The one optimisation loop of the training methods. ``loss_at(step)`` gives the step's loss, a label
    and the numbers to report. With ``masks`` (parameter name -> 0/1 tensor) only weights where the mask is
    1 move: weight decay is added to the gradient before masking and the optimizer must have none of its
    own, so a masked weight stays bit for bit as it was. ``clip`` bounds the gradient's norm (after masking).
    ``stop(step)`` may end training early.
    Returns the number of steps run."""
    named = dict(model.named_parameters())
    for step in range(1, total + 1):
        set_train_mode(model, freeze_bn)
        loss, label, shown = loss_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for name, mask in (masks or {}).items():
            grad = named[name].grad
            if grad is not None:
                if weight_decay:
                    grad.add_(named[name].detach(), alpha=weight_decay)
                grad.mul_(mask)
        if clip:
            torch.nn.utils.clip_grad_norm_([p for p in named.values() if p.grad is not None], clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        progress(step / total, step_message(label, step, total, **shown))
        if stop is not None and stop(step):
            return step
    return total


def training_cost(steps: int, batch: int, scope: str = "all") -> float:
    """Forward-pass equivalents of ``steps`` training steps: measured on a CPU, a step through the whole
    network (augmentation, forward, backward) costs about four batched inference passes, and scope "top"
    about one (it runs a third of the network)."""
    return steps * batch * (1.05 if scope == "top" else 4.0)


def lr_scale(default: float = 1.0) -> Option:
    """The learning-rate option every training method has."""
    return Option("lr_scale", default, "learning rate, as a multiple of the training recipe's", 0.01, 10)


SCOPE = Option(
    "scope",
    "top",
    "which weights may change: the backbone's last stage and the head (top, several times faster) or all",
    choices=("top", "all"),
)

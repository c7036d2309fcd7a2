"""NegGrad+: gradient ascent on the forget data balanced by descent on the retain data
(Kurmanji et al., 2023, as a baseline): loss = α·CE(retain) − (1−α)·min(CE(forget), cap)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...model.models import trainable
from ...model.training import make_optimizer
from ..base import (
    SCOPE,
    Batches,
    Method,
    Option,
    UnlearnConfig,
    lr_scale,
    model_input,
    steps_for,
    train_steps,
    training_cost,
)


def unlearn(model, retain, forget, config: UnlearnConfig, progress):
    options, recipe, device = config.options, config.recipe, config.device
    generator = torch.Generator().manual_seed(config.seed)
    model.to(device)
    total = steps_for(forget, options["epochs"], recipe.batch_size, options["min_steps"])
    retain_batches = Batches(retain, recipe.batch_size, generator)
    forget_batches = Batches(forget, recipe.batch_size, generator)
    alpha, cap = options["alpha"], options["forget_loss_cap"]

    def loss_at(step):
        r_crops, r_labels = next(retain_batches)
        f_crops, f_labels = next(forget_batches)
        retain_loss = F.cross_entropy(model(model_input(r_crops, retain, config, generator)), r_labels.to(device))
        forget_loss = F.cross_entropy(model(model_input(f_crops, forget, config, generator)), f_labels.to(device))
        loss = alpha * retain_loss - (1 - alpha) * torch.clamp(forget_loss, max=cap)
        return loss, "NegGrad+", {"retain": retain_loss.item(), "forget": forget_loss.item()}

    with trainable(model, options["scope"]):
        optimizer = make_optimizer(model, recipe, lr=recipe.lr * options["lr_scale"])
        train_steps(model, total, loss_at, optimizer, progress, recipe.freeze_bn)
    return model.eval()


def cost(forget: int, retain: int, options: dict, recipe) -> float:
    steps = max(options["min_steps"], math.ceil(options["epochs"] * forget / max(recipe.batch_size, 1)))
    return training_cost(steps, 2 * recipe.batch_size, options["scope"])


METHOD = Method(
    "neggrad_plus",
    "NegGrad+",
    "Push the loss on the forgotten photos up while keeping it down on everyone else.",
    (
        Option("epochs", 5.0, "passes over the forget photos", 0.1, 100),
        Option("min_steps", 8, "at least this many steps, however few the forget photos", 1, 10000),
        Option("alpha", 0.9, "weight of the retain loss (1−α on the forget loss)", 0.0, 1.0),
        lr_scale(),
        Option("forget_loss_cap", 5.0, "stop pushing a forget batch once its loss exceeds this", 0.5, 50),
        SCOPE,
    ),
    unlearn,
    cost=cost,
)

"""Fine-tune: keep training on the retain data only and hope the forgotten people fade.

A known-weak baseline, kept for comparison: it does not forget a fine-tuned model's people within a
tenth of a retrain (tests/bench/results/unlearn-cpu-mobilefacenet.md), and the app never claims it does.
"""

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
    options, recipe = config.options, config.recipe
    generator = torch.Generator().manual_seed(config.seed)
    model.to(config.device)
    batches = Batches(retain, recipe.batch_size, generator)

    def loss_at(step):
        crops, labels = next(batches)
        loss = F.cross_entropy(model(model_input(crops, retain, config, generator)), labels.to(config.device))
        return loss, "Fine-tune", {"loss": loss.item()}

    with trainable(model, options["scope"]):
        optimizer = make_optimizer(model, recipe, lr=recipe.lr * options["lr_scale"])
        total = steps_for(retain, options["epochs"], recipe.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
        train_steps(model, total, loss_at, optimizer, progress, recipe.freeze_bn, scheduler=scheduler)
    return model.eval()


def cost(forget: int, retain: int, options: dict, recipe) -> float:
    return training_cost(
        math.ceil(options["epochs"] * retain / max(recipe.batch_size, 1)), recipe.batch_size, options["scope"]
    )


METHOD = Method(
    "finetune",
    "Fine-tune on the rest",
    "Baseline for comparison: train a little more on everyone else. It does not forget: the people stay recognised.",
    (Option("epochs", 1.0, "passes over the retain photos", 0.05, 50), lr_scale(), SCOPE),
    unlearn,
    cost=cost,
    baseline=True,
    short="Fine-tune",
    cannot_meet={
        "finetuned": "A weak baseline: it leaves the people recognised (it cannot meet the forgetting targets).",
        "embedding": "A weak baseline: it leaves the people recognised; Exact forgets them.",
    },
)

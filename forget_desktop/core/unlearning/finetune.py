"""Fine-tune: keep training on the retain data only and hope the forgotten people fade."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import trainable
from ..training import make_optimizer, set_train_mode
from .base import SCOPE, Batches, Method, Option, UnlearnConfig, lr_scale, model_input, step_message, steps_for


def unlearn(model, retain, forget, config: UnlearnConfig, progress):
    options, recipe = config.options, config.recipe
    generator = torch.Generator().manual_seed(config.seed)
    model.to(config.device)
    with trainable(model, options["scope"]):
        optimizer = make_optimizer(model, recipe, lr=recipe.lr * options["lr_scale"])
        total = steps_for(retain, options["epochs"], recipe.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
        batches = Batches(retain, recipe.batch_size, generator)
        for step in range(1, total + 1):
            crops, labels = next(batches)
            set_train_mode(model, recipe.freeze_bn)
            loss = F.cross_entropy(model(model_input(crops, retain, config, generator)), labels.to(config.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            progress(step / total, step_message("Fine-tune", step, total, loss=loss.item()))
    return model.eval()


METHOD = Method("finetune", "Fine-tune on the rest",
                "Train a little more on everyone else. Cheap, but usually does not forget.",
                (Option("epochs", 1.0, "passes over the retain photos", 0.05, 50),
                 lr_scale(),
                 SCOPE),
                unlearn)

"""SalUn (Fan et al., ICLR 2024): saliency-masked random labelling.

Weights whose forget-loss gradient is largest (the top ``mask_fraction``) are the only ones allowed
to change. They are trained so the forgotten photos get random labels of retained people, while
the retain photos keep their true labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import trainable
from ..training import make_optimizer, set_train_mode
from .base import SCOPE, Batches, Method, Option, UnlearnConfig, model_input, step_message, steps_for


def saliency_masks(model, forget, config: UnlearnConfig, fraction: float, generator) -> dict[str, torch.Tensor]:
    """1 for the ``fraction`` of trainable weights with the largest |∂ forget loss / ∂ w|, else 0."""
    model.eval()
    model.zero_grad(set_to_none=True)
    batch = config.recipe.batch_size
    for start in range(0, len(forget), batch):
        crops, labels = forget.images[start:start + batch], forget.labels[start:start + batch]
        x = model_input(crops, forget, config, generator)
        loss = F.cross_entropy(model(x), labels.to(config.device), reduction="sum") / len(forget)
        loss.backward()
    grads = {n: p.grad.abs() for n, p in model.named_parameters() if p.grad is not None}
    flat = torch.cat([g.flatten() for g in grads.values()])
    keep = max(1, int(fraction * len(flat)))
    threshold = torch.topk(flat, keep, sorted=False).values.min()
    model.zero_grad(set_to_none=True)
    return {n: (g >= threshold).float() for n, g in grads.items()}


def unlearn(model, retain, forget, config: UnlearnConfig, progress):
    options, recipe, device = config.options, config.recipe, config.device
    generator = torch.Generator().manual_seed(config.seed)
    model.to(device)
    retained_labels = torch.unique(retain.labels)
    total = steps_for(forget, options["epochs"], recipe.batch_size, options["min_steps"])
    forget_batches = Batches(forget, recipe.batch_size, generator)
    retain_batches = Batches(retain, round(recipe.batch_size * options["retain_ratio"]), generator)
    with trainable(model, options["scope"]):
        progress(0.0, "SalUn: weight saliency")
        masks = saliency_masks(model, forget, config, options["mask_fraction"], generator)
        named = dict(model.named_parameters())
        optimizer = make_optimizer(model, recipe, lr=recipe.lr * options["lr_scale"])
        for step in range(1, total + 1):
            set_train_mode(model, recipe.freeze_bn)
            f_crops, f_labels = next(forget_batches)
            r_crops, r_labels = next(retain_batches)
            # the forgotten photos are relabelled as random retained people
            random_labels = retained_labels[torch.randint(len(retained_labels), (len(f_labels),), generator=generator)]
            x = model_input(torch.cat([f_crops, r_crops]), forget, config, generator)
            loss = F.cross_entropy(model(x), torch.cat([random_labels, r_labels]).to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for name, mask in masks.items():
                named[name].grad.mul_(mask)
            optimizer.step()
            progress(step / total, step_message("SalUn", step, total, loss=loss.item()))
    return model.eval()


METHOD = Method("salun", "SalUn",
                "Relabel the forgotten photos as random other people, changing only the weights that "
                "matter most for them (Fan et al., 2024).",
                (Option("epochs", 5.0, "passes over the forget photos", 0.1, 100),
                 Option("min_steps", 8, "at least this many steps, however few the forget photos", 1, 10000),
                 Option("mask_fraction", 0.5, "share of weights allowed to change (saliency)", 0.01, 1.0),
                 Option("retain_ratio", 1.0, "retain photos per forget photo in each batch", 0.0, 10),
                 Option("lr_scale", 0.1, "learning rate, as a multiple of the training recipe's", 0.01, 10),
                 SCOPE),
                unlearn)

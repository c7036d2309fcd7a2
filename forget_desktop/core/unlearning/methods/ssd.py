"""Selective Synaptic Dampening (Foster, Schoepf & Brintrup, AAAI 2024): no training.

Importance of each weight = mean squared gradient of the loss (a diagonal Fisher estimate) over the
training data D and over the forget data. Weights far more important for the forget data
(importance_f > α·importance_D) are scaled by β = min(λ·importance_D / importance_f, 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...faces.crops import CropSet, to_input
from ...model.models import trainable
from ..base import SCOPE, Method, Option, UnlearnConfig


def importances(model, data: CropSet, config: UnlearnConfig, progress) -> dict[str, torch.Tensor]:
    """Mean over batches of the squared batch gradient, per parameter."""
    model.eval()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    batch = config.recipe.batch_size
    count = 0
    for start in range(0, len(data), batch):
        progress(start / max(len(data), 1), f"SSD: importance {start}/{len(data)}")
        x = to_input(data.images[start : start + batch].to(config.device), data.spec)
        loss = F.cross_entropy(model(x), data.labels[start : start + batch].to(config.device))
        model.zero_grad(set_to_none=True)
        loss.backward()
        for name, param in params.items():
            if param.grad is not None:
                total[name] += param.grad.detach() ** 2
        count += 1
    model.zero_grad(set_to_none=True)
    return {n: t / max(count, 1) for n, t in total.items()}


def unlearn(model, retain, forget, config: UnlearnConfig, progress):
    options = config.options
    model.to(config.device)
    generator = torch.Generator().manual_seed(config.seed)
    sample = min(len(retain), int(options["retain_samples"]))
    chosen = torch.zeros(len(retain), dtype=torch.bool)
    chosen[torch.randperm(len(retain), generator=generator)[:sample]] = True
    sampled = retain.where(chosen)
    full = CropSet(
        torch.cat([sampled.images, forget.images]), torch.cat([sampled.labels, forget.labels]), retain.spec, []
    )
    with trainable(model, options["scope"]):
        importance_d = importances(model, full, config, progress.sub(0.0, 0.8))
        importance_f = importances(model, forget, config, progress.sub(0.8, 0.98))
    alpha, lam = options["alpha"], options["dampening"]
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name not in importance_d:
                continue
            d, f = importance_d[name], importance_f[name]
            selected = f > alpha * d
            beta = torch.clamp(lam * d / f.clamp_min(1e-30), max=1.0)
            param.mul_(torch.where(selected, beta, torch.ones_like(beta)))
    progress(1.0, "SSD: dampened")
    return model.eval()


def cost(forget: int, retain: int, options: dict, recipe) -> float:
    return 3.0 * (min(retain, options["retain_samples"]) + 2 * forget)


METHOD = Method(
    "ssd",
    "Selective Synaptic Dampening",
    "No training: shrink the weights that matter far more for the forgotten photos than "
    "for the rest (Foster et al., 2024). Fastest.",
    (
        Option("alpha", 10.0, "selection: importance for forget > α × importance overall", 1.0, 1000),
        Option("dampening", 1.0, "λ: how strongly selected weights are shrunk", 0.01, 100),
        Option("retain_samples", 1024, "retain photos used to estimate overall importance", 16, 1000000),
        SCOPE,
    ),
    unlearn,
    cost=cost,
)

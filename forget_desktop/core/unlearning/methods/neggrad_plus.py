"""NegGrad+ (Kurmanji et al., NeurIPS 2023, the baseline they call NegGrad+): gradient descent on the
retain photos and ascent on the forget photos, loss = α·CE(retain) − (1−α)·CE(forget), iterating over
the retain set with the forget photos cycled alongside.

A forget photo the model was trained on has a loss near 0, where the gradient of its cross-entropy
vanishes (it is 1 − p; the fine-tuned models here put their logits 20–50 apart), so ascent barely
moves it. Three things make it work in a tenth of a retrain: the forget term's cross-entropy is taken
at the temperature where the original's mean loss on the forget photos is ln 2 (logits / T, as
SCRUB's divergence is), so the softmax is not saturated; a larger learning rate with the gradient's norm
clipped (ascent speeds up as the loss grows, and the clip keeps it from running away); and each forget
photo's loss capped (a photo already far from its person is no longer pushed). It stops after the
first step that leaves no forget photo named as its person and a held-aside sample of everyone else
named as before.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...model.models import trainable
from ...model.training import make_optimizer
from ..base import (
    Batches,
    ForgetCheck,
    Method,
    Option,
    TopInputs,
    UnlearnConfig,
    forget_temperature,
    lr_scale,
    steps_for,
    train_steps,
    training_cost,
)


def unlearn(model, retain, forget, config: UnlearnConfig, progress):
    options, recipe, device = config.options, config.recipe, config.device
    generator = torch.Generator().manual_seed(config.seed)
    model.to(device)
    alpha, cap = options["alpha"], options["forget_loss_cap"]
    with trainable(model, "top"):
        progress(0.0, "NegGrad+: caching features")
        inputs = TopInputs(model, forget, config)
        check = ForgetCheck(model, inputs.forget, retain, config, generator, inputs.frozen)
        retain_batches = Batches(check.retain, recipe.batch_size, generator)
        forget_batches = Batches(inputs.forget, recipe.batch_size, generator)
        total = steps_for(check.retain, options["epochs"], recipe.batch_size, options["min_steps"])
        temperature = forget_temperature(model, inputs.forget, options["temperature"])

        def loss_at(step):
            r_x, r_labels = next(retain_batches)
            f_x, f_labels = next(forget_batches)
            retain_loss = F.cross_entropy(inputs.logits(r_x, check.retain), r_labels.to(device))
            forget_logits = inputs.logits(f_x, inputs.forget) / temperature
            forget_each = F.cross_entropy(forget_logits, f_labels.to(device), reduction="none")
            forget_loss = torch.clamp(forget_each, max=cap).mean()
            loss = alpha * retain_loss - (1 - alpha) * forget_loss
            return loss, "NegGrad+", {"retain": retain_loss.item(), "forget": forget_each.mean().item()}

        def stop(step):
            return options["stop_early"] and check.done()

        optimizer = make_optimizer(model, recipe, lr=recipe.lr * options["lr_scale"])
        train_steps(model, total, loss_at, optimizer, progress, recipe.freeze_bn, stop=stop, clip=options["clip"])
    return model.eval()


def cost(forget: int, retain: int, options: dict, recipe) -> float:
    """At most this much work (early stopping usually ends it before)."""
    steps = max(options["min_steps"], math.ceil(options["epochs"] * retain / max(recipe.batch_size, 1)))
    return training_cost(steps, recipe.batch_size, "top") + 2 * forget


METHOD = Method(
    "neggrad_plus",
    "NegGrad+",
    "Push the loss on the forgotten photos up while keeping it down on everyone else (Kurmanji et al., 2023).",
    (
        Option("epochs", 1.0, "at most this many passes over the retain photos", 0.05, 100),
        Option("min_steps", 30, "allow at least this many steps, however few the retain photos", 1, 10000),
        Option("alpha", 0.5, "weight of the retain loss (1−α on the forget loss)", 0.0, 1.0),
        lr_scale(3.0),
        Option("clip", 1.0, "largest gradient norm of a step", 0.01, 1000),
        Option(
            "temperature",
            0.0,
            "the forget loss is the cross-entropy of logits / T (1: the paper's; 0: the T at which the "
            "original's mean forget loss is ln 2)",
            0.0,
            1000,
        ),
        Option("forget_loss_cap", 5.0, "a forget photo is no longer pushed once its loss exceeds this", 0.5, 50),
        Option(
            "stop_early",
            True,
            "stop once no forget photo is named as its person and a held-aside sample of "
            "everyone else is named as before",
        ),
    ),
    unlearn,
    cost=cost,
    cannot_meet={
        "finetuned photos": "on LFW its forgotten photos' membership scores missed a retrain's by more than 0.03 on "
        "5 of 6 runs of random photos (SalUn: 2 of 6)."
    },
)

"""SCRUB (Kurmanji, Triantafillou, Hayes & Triantafillou, NeurIPS 2023), written from the paper.

A student starts as the original model (the teacher). "Max" steps move the student's predictions on
the forget data away from the teacher's (maximise KL); "min" steps keep it close to the teacher on
the retain data (minimise α·KL + γ·CE). Max steps run only in the first ``max_epochs`` passes.
"""

from __future__ import annotations

import copy
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


def kl_to_teacher(student_logits, teacher_logits, temperature: float):
    """KL(teacher ‖ student) at a temperature, scaled by T² as in distillation."""
    t = temperature
    return (
        F.kl_div(
            F.log_softmax(student_logits / t, 1),
            F.log_softmax(teacher_logits / t, 1),
            log_target=True,
            reduction="batchmean",
        )
        * t
        * t
    )


def phases(options: dict, per_epoch: int) -> list[str]:
    """The order of steps: each pass runs max steps (in the first ``max_epochs`` passes), then min steps."""
    min_steps = max(1, round(per_epoch * options["min_steps_ratio"]))
    plan = []
    for epoch in range(int(options["epochs"])):
        plan += ["max"] * (per_epoch if epoch < int(options["max_epochs"]) else 0) + ["min"] * min_steps
    return plan


def unlearn(model, retain, forget, config: UnlearnConfig, progress):
    options, recipe, device = config.options, config.recipe, config.device
    generator = torch.Generator().manual_seed(config.seed)
    teacher = copy.deepcopy(model).to(device).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    student = model.to(device)
    forget_batches = Batches(forget, recipe.batch_size, generator)
    retain_batches = Batches(retain, recipe.batch_size, generator)
    plan = phases(options, steps_for(forget, 1.0, recipe.batch_size, options["min_steps"]))
    temperature, alpha, gamma = options["temperature"], options["alpha"], options["gamma"]

    def loss_at(step):
        phase = plan[step - 1]
        crops, labels = next(forget_batches) if phase == "max" else next(retain_batches)
        x = model_input(crops, forget if phase == "max" else retain, config, generator)
        with torch.no_grad():
            target = teacher(x)
        logits = student(x)
        if phase == "max":
            loss = -torch.clamp(kl_to_teacher(logits, target, temperature), max=options["kl_cap"])
        else:
            loss = alpha * kl_to_teacher(logits, target, temperature) + gamma * F.cross_entropy(
                logits, labels.to(device)
            )
        return loss, f"SCRUB {phase}", {"loss": loss.item()}

    with trainable(student, options["scope"]):
        optimizer = make_optimizer(student, recipe, lr=recipe.lr * options["lr_scale"])
        train_steps(student, len(plan), loss_at, optimizer, progress, recipe.freeze_bn)
    return student.eval()


def cost(forget: int, retain: int, options: dict, recipe) -> float:
    per_epoch = max(options["min_steps"], math.ceil(forget / max(recipe.batch_size, 1)))
    steps = len(phases(options, per_epoch))
    return training_cost(steps, recipe.batch_size, options["scope"]) * 4 / 3  # the teacher's forward too


METHOD = Method(
    "scrub",
    "SCRUB",
    "Teacher–student: move away from the original on the forgotten photos, stay close to "
    "it on everyone else (Kurmanji et al., 2023).",
    (
        Option("epochs", 5, "passes (max steps over the forget photos, then min steps)", 1, 100),
        Option("max_epochs", 3, "passes that include max (forget) steps", 0, 100),
        Option("min_steps", 1, "at least this many forget steps per pass", 1, 10000),
        Option("min_steps_ratio", 1.0, "retain steps per pass, relative to the forget steps", 0.1, 20),
        Option("alpha", 0.5, "weight of the retain distillation term", 0.0, 10),
        Option("gamma", 1.0, "weight of the retain cross-entropy term", 0.0, 10),
        Option("temperature", 4.0, "distillation temperature", 0.5, 20),
        Option("kl_cap", 20.0, "stop pushing a forget batch once its divergence exceeds this", 0.1, 1000),
        lr_scale(),
        SCOPE,
    ),
    unlearn,
    cost=cost,
)

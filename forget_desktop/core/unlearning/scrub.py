"""SCRUB (Kurmanji, Triantafillou, Hayes & Triantafillou, NeurIPS 2023), written from the paper.

A student starts as the original model (the teacher). "Max" steps move the student's predictions on
the forget data away from the teacher's (maximise KL); "min" steps keep it close to the teacher on
the retain data (minimise α·KL + γ·CE). Max steps run only in the first ``max_epochs`` passes.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..models import trainable
from ..training import make_optimizer, set_train_mode
from .base import SCOPE, Batches, Method, Option, UnlearnConfig, lr_scale, model_input, step_message, steps_for


def kl_to_teacher(student_logits, teacher_logits, temperature: float):
    """KL(teacher ‖ student) at a temperature, scaled by T² as in distillation."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, 1), F.log_softmax(teacher_logits / t, 1),
                    log_target=True, reduction="batchmean") * t * t


def unlearn(model, retain, forget, config: UnlearnConfig, progress):
    options, recipe, device = config.options, config.recipe, config.device
    generator = torch.Generator().manual_seed(config.seed)
    teacher = copy.deepcopy(model).to(device).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    student = model.to(device)
    forget_batches = Batches(forget, recipe.batch_size, generator)
    retain_batches = Batches(retain, recipe.batch_size, generator)
    per_epoch = steps_for(forget, 1.0, recipe.batch_size, options["min_steps"])
    epochs, max_epochs = int(options["epochs"]), int(options["max_epochs"])
    min_steps = max(1, round(per_epoch * options["min_steps_ratio"]))
    total, done = epochs * min_steps + min(max_epochs, epochs) * per_epoch, 0
    temperature, alpha, gamma = options["temperature"], options["alpha"], options["gamma"]

    def step(loss: torch.Tensor, phase: str) -> None:
        nonlocal done
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done += 1
        progress(done / total, step_message(f"SCRUB {phase}", done, total, loss=loss.item()))

    with trainable(student, options["scope"]):
        optimizer = make_optimizer(student, recipe, lr=recipe.lr * options["lr_scale"])
        for epoch in range(epochs):
            for _ in range(per_epoch if epoch < max_epochs else 0):
                set_train_mode(student, recipe.freeze_bn)
                x = model_input(next(forget_batches)[0], forget, config, generator)
                with torch.no_grad():
                    target = teacher(x)
                step(-torch.clamp(kl_to_teacher(student(x), target, temperature), max=options["kl_cap"]), "max")
            for _ in range(min_steps):
                set_train_mode(student, recipe.freeze_bn)
                crops, labels = next(retain_batches)
                x = model_input(crops, retain, config, generator)
                with torch.no_grad():
                    target = teacher(x)
                logits = student(x)
                step(alpha * kl_to_teacher(logits, target, temperature)
                     + gamma * F.cross_entropy(logits, labels.to(device)), "min")
    return student.eval()


METHOD = Method("scrub", "SCRUB",
                "Teacher–student: move away from the original on the forgotten photos, stay close to "
                "it on everyone else (Kurmanji et al., 2023).",
                (Option("epochs", 5, "passes (max steps over the forget photos, then min steps)", 1, 100),
                 Option("max_epochs", 3, "passes that include max (forget) steps", 0, 100),
                 Option("min_steps", 1, "at least this many forget steps per pass", 1, 10000),
                 Option("min_steps_ratio", 1.0, "retain steps per pass, relative to the forget steps", 0.1, 20),
                 Option("alpha", 0.5, "weight of the retain distillation term", 0.0, 10),
                 Option("gamma", 1.0, "weight of the retain cross-entropy term", 0.0, 10),
                 Option("temperature", 4.0, "distillation temperature", 0.5, 20),
                 Option("kl_cap", 20.0, "stop pushing a forget batch once its divergence exceeds this", 0.1, 1000),
                 lr_scale(),
                 SCOPE),
                unlearn)

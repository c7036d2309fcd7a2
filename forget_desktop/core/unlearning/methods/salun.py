"""SalUn (Fan et al., ICLR 2024): saliency-masked relabelling.

Weights whose forget-loss gradient is largest (the top ``mask_fraction``) are the only ones allowed
to change. They are trained so the forgotten photos get other, retained people's labels, while
retain photos keep their true labels. The paper draws those labels at random (``relabel random``);
the default here uses soft labels: the model's own belief over the retained people for each photo,
with the person's class removed — roughly what a model that never saw them answers, which keeps
everyone else's accuracy closer to the retrained reference (tests/bench/results/sweep-third.md).
Two more practical additions, both options: with scope "top" and no augmentation the frozen
trunk's activations of the forget photos are computed once and each step runs only the last stage;
and training stops at the first check (after each pass over the forget photos, or every ``check_steps``
if sooner) that finds none of the forget photos recognised and a sample of everyone else, held aside
from the retain batches, recognised as before (``stop_early``):
forgetting comes within a few steps, and the retain term then needs some more to repair the people
who look like the forgotten ones; photos it never trains on show when that repair generalises.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...faces.crops import to_input
from ...model.models import trainable
from ...model.training import make_optimizer
from ..base import (
    SCOPE,
    Batches,
    ForgetCheck,
    FrozenTrunk,
    Method,
    Option,
    TrunkCache,
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
    retained_labels = torch.unique(retain.labels)
    per_pass = steps_for(forget, 1.0, recipe.batch_size)
    total = max(options["min_steps"], math.ceil(options["epochs"] * per_pass))
    check_every = max(1, min(per_pass, int(options["check_steps"])))
    retain_batch = max(1, round(recipe.batch_size * options["retain_ratio"]))
    cached = options["scope"] == "top" and not options["augment"]
    with trainable(model, options["scope"]):
        if cached:
            progress(0.0, "SalUn: caching features")
            frozen = FrozenTrunk(model, config)
            forget_data, retain_data = TrunkCache(frozen, forget), retain
            plain = model.top  # logits of cached forget activations, as they are

            def forward(x, data):
                if data is forget:
                    return model.top(x)
                return model.top(frozen(x, data.spec))  # used ~once: not cached
        else:
            forget_data, retain_data, frozen = forget, retain, None

            def plain(x):
                return model(to_input(x.to(device), forget.spec))

            def forward(x, data):
                return model(model_input(x, data, config, generator))

        check = None
        if options["stop_early"]:
            # A fixed sample of everyone else, kept out of the retain batches: how it recovers shows
            # how the repair generalises, as it will to photos the model has never seen.
            check = ForgetCheck(model, forget_data, retain, config, generator, frozen, options["retain_tolerance"])
            retain_data = check.retain
        progress(0.02, "SalUn: weight saliency")
        masks = saliency_masks(
            model,
            forget_data,
            plain,
            options["mask_fraction"],
            recipe.batch_size,
            device,
            sample=int(options["saliency_photos"]),
            generator=generator,
        )
        targets = (
            retained_targets(model, forget_data, plain, retained_labels, recipe.batch_size, options["temperature"])
            if options["relabel"] == "soft"
            else None
        )
        # no weight decay in the optimizer: train_steps adds it before masking, so masked weights stay put
        optimizer = make_optimizer(model, recipe, lr=recipe.lr * options["lr_scale"], weight_decay=0.0)
        forget_batches = Batches(forget_data, recipe.batch_size, generator)
        retain_batches = Batches(retain_data, retain_batch, generator)

        def loss_at(step):
            f_x, f_labels, f_index = forget_batches.next_with_index()
            r_x, r_labels = next(retain_batches)
            # the forgotten photos are relabelled as retained people: random ones (the paper), or the
            # one each photo already looks most like (what a model that never saw them would answer)
            forget_logits, retain_logits = forward(f_x, forget), forward(r_x, retain)
            if targets is None:
                new_labels = retained_labels[torch.randint(len(retained_labels), (len(f_labels),), generator=generator)]
                forget_loss = F.cross_entropy(forget_logits, new_labels.to(device), reduction="sum")
            else:
                forget_loss = -(targets[f_index].to(device) * F.log_softmax(forget_logits, 1)).sum()
            retain_loss = F.cross_entropy(retain_logits, r_labels.to(device), reduction="sum")
            loss = (forget_loss + retain_loss) / (len(f_labels) + len(r_labels))
            return loss, "SalUn", {"loss": loss.item()}

        def forgotten_and_recovered(step):
            """After each pass (or ``check_steps``, if fewer) from ``min_steps`` on; never without a held-aside
            sample (a small gallery)."""
            if check is None or check.monitor is None or step % check_every or step < options["min_steps"]:
                return False
            if check.done():
                progress(1.0, f"SalUn: forgotten, and everyone else recovered, after {step} steps")
                return True
            return False

        train_steps(
            model,
            total,
            loss_at,
            optimizer,
            progress,
            recipe.freeze_bn,
            masks=masks,
            weight_decay=recipe.weight_decay,
            stop=forgotten_and_recovered,
        )
    return model.eval()


def saliency_masks(
    model, forget_data, plain, fraction: float, batch: int, device, sample: int = 0, generator=None
) -> dict[str, torch.Tensor]:
    """1 for the ``fraction`` of trainable weights with the largest |∂ forget loss / ∂ w|, else 0. With
    ``sample`` > 0 the gradient is taken over at most that many forget photos, drawn at random: a mean over
    hundreds of photos of the same people ranks the weights as all of them would, at a fraction of the cost."""
    model.eval()
    model.zero_grad(set_to_none=True)
    images, labels_all = forget_data.images, forget_data.labels
    if 0 < sample < len(labels_all):
        chosen = torch.randperm(len(labels_all), generator=generator)[:sample]
        images, labels_all = images[chosen.to(images.device)], labels_all[chosen]
    for start in range(0, len(labels_all), batch):
        x, labels = images[start : start + batch], labels_all[start : start + batch]
        loss = F.cross_entropy(plain(x), labels.to(device), reduction="sum") / len(labels_all)
        loss.backward()
    grads = {n: p.grad.abs() for n, p in model.named_parameters() if p.grad is not None}
    flat = torch.cat([g.flatten() for g in grads.values()])
    keep = max(1, int(fraction * len(flat)))
    threshold = torch.topk(flat, keep, sorted=False).values.min()
    model.zero_grad(set_to_none=True)
    return {n: (g >= threshold).float() for n, g in grads.items()}


@torch.no_grad()
def retained_targets(
    model, forget_data, plain, retained_labels: torch.Tensor, batch: int, temperature: float
) -> torch.Tensor:
    """For each forget photo, the model's own belief over the retained people only (their class
    removed, renormalised, softened by ``temperature``): roughly what a model that never saw them
    would answer."""
    model.eval()
    allowed = torch.full((model.head.out_features,), float("-inf"))
    allowed[retained_labels] = 0.0
    parts = [
        F.softmax((plain(forget_data.images[i : i + batch]).float().cpu() + allowed) / temperature, 1)
        for i in range(0, len(forget_data), batch)
    ]
    return torch.cat(parts) if parts else torch.zeros(0)


def cost(forget: int, retain: int, options: dict, recipe) -> float:
    """At most this much work (early stopping usually ends it well before)."""
    steps = max(options["min_steps"], math.ceil(options["epochs"] * math.ceil(forget / max(recipe.batch_size, 1))))
    batch = min(recipe.batch_size, forget) + max(1, round(recipe.batch_size * options["retain_ratio"]))
    sample = int(options["saliency_photos"]) or forget
    # the saliency's forward and backward pass over its sample, and the soft labels' forward over every photo
    return training_cost(steps, batch, options["scope"]) + 3 * min(forget, sample) + forget


METHOD = Method(
    "salun",
    "SalUn",
    "Relabel the forgotten photos as the retained people they most resemble, changing only the "
    "weights that matter most for them (Fan et al., 2024).",
    (
        Option("epochs", 10.0, "at most this many passes over the forget photos", 0.1, 100),
        Option("min_steps", 8, "at least this many steps, however few the forget photos", 1, 10000),
        Option(
            "stop_early",
            True,
            "stop at the first check that finds no forget photo recognised and a "
            "held-aside sample of everyone else recognised as before (within the tolerance)",
        ),
        Option(
            "check_steps",
            8,
            "check for early stopping after this many steps, or after each pass over the forget photos if sooner",
            1,
            10000,
        ),
        Option("retain_tolerance", 0.0, "accuracy on the held-aside sample early stopping may give up", 0.0, 1.0),
        Option("saliency_photos", 512, "forget photos the saliency is measured on (0: all of them)", 0, 100000),
        Option("mask_fraction", 0.5, "share of weights allowed to change (saliency)", 0.01, 1.0),
        Option("retain_ratio", 0.5, "retain photos per forget photo in each batch", 0.0, 10),
        lr_scale(0.1),
        Option(
            "relabel",
            "soft",
            "new labels for the forgotten photos: random retained people (the "
            "paper) or soft labels from the model's own view of who else they resemble",
            choices=("random", "soft"),
        ),
        Option("temperature", 1.0, "softness of the soft labels (relabel soft)", 0.1, 100),
        Option("augment", False, "augment photos as in training (slower: no cached features)"),
        SCOPE,
    ),
    unlearn,
    cost=cost,
    cannot_meet={
        "finetuned photos": "on LFW its forgotten photos' membership scores missed a retrain's by more than 0.03 on "
        "2 of 6 runs of random photos (photos-cpu-methods.md)."
    },
)

"""Retrain: the reference — the original recipe and starting point, on the retain data only."""

from __future__ import annotations

from ...model.heads import fit_learned, make_head
from ...model.models import LearnedHead, build_classifier
from ...model.training import schedule
from ..base import Method, Option, UnlearnConfig, training_cost


def unlearn(model, retain, forget, config: UnlearnConfig, progress):
    """Ignore ``model``: train a fresh one exactly as the original was trained, without ``forget``."""
    recipe = config.recipe.with_epochs(config.options["epochs"] or None)
    if isinstance(model, LearnedHead):  # an embedding model: a new head over the same frozen embeddings
        fresh = LearnedHead(make_head("embedding", model.head.in_features, model.head.out_features))
    else:
        start = config.start
        fresh, _ = build_classifier(
            start["backbone"], config.num_classes, start.get("weights"), int(start.get("seed", config.seed)), model.kind
        )
    fit_learned(fresh, retain, recipe, config.device, progress, seed=config.seed)
    return fresh


def cost(forget: int, retain: int, options: dict, recipe) -> float:
    """Training from scratch: the recipe's passes over everyone else (a fitted head costs next to nothing)."""
    if recipe.head == "centroid":
        return 0.01 * retain
    batch, epochs = schedule(recipe.with_epochs(options["epochs"] or None), retain)
    return training_cost(epochs * max(1, retain // batch), batch)


METHOD = Method(
    "retrain",
    "Retrain from scratch",
    "The gold standard and the reference: the original training recipe without the "
    "forgotten people. Slowest for a fine-tuned model.",
    (Option("epochs", 0, "training epochs (0 = the original recipe's)", 0, 500),),
    unlearn,
    reference=True,
    cost=cost,
    short="Retrain",
)

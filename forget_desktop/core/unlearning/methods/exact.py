"""Exact forgetting for an embedding model (its backbone frozen, only the head learned).

Design for forgetting (as in SISA, Bourtoule et al. 2021, with one shard per person): each person's
centre is computed from that person's embeddings alone, and the softmax scale is the one number
everyone shares. Removing their centres and refitting the scale on everyone else's embeddings gives
the head a model trained without them would have, bit for bit — which the job checks by comparing
every tensor with a head trained from scratch on the retained people.
"""

from __future__ import annotations

import torch

from ...common.errors import ForgetError
from ...model.heads import CentroidHead, fit_scale
from ..base import Method, UnlearnConfig


def unlearn(model, retain, forget, config: UnlearnConfig, progress):
    if not isinstance(model.head, CentroidHead):
        raise ForgetError(
            "Exact forgetting needs an embedding model (a frozen backbone); for this fine-tuned "
            "model choose Retrain (exact, but slow) or an approximate method."
        )
    progress(0.0, "Exact: removing their centres")
    with torch.no_grad():
        model.head.weight[torch.unique(forget.labels).to(model.head.weight.device)] = 0.0
    progress(0.5, "Exact: refitting the shared scale on everyone else")
    fit_scale(model.head, retain.images, retain.labels)
    progress(1.0, "Exact: done")
    return model


METHOD = Method(
    "exact",
    "Exact (embedding models)",
    "Remove the people's centres from the head and refit the one shared number: identical to "
    "training the model without them, checked tensor by tensor. Takes a fraction of a second.",
    (),
    unlearn,
    exact=True,
    short="Exact",
)

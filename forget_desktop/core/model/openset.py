"""Who decides Unknown: the model's own centres, or, for an anchored fine-tuned model, its anchor's.

A fine-tuned backbone learns to tell its people apart, not to tell them from everyone else: trained as
a closed set, it maps a stranger close to one of its people's centres (on LFW-62 it named 19–55 % of
strangers, and its retrained reference named a forgotten person's photos as someone else up to 75 % of
the time). An anchored model therefore lets its fine-tuned head choose *who*, and its anchor — the same
people's centres on the frozen pretrained backbone, where strangers stay far — decide *whether* the face
is close enough to that person to be named. Two rules make that decision the anchor's alone, so that an
approximate forget can never make the app name a forgotten face where an exact one would not:

- the face is named only when the anchor's nearest centre is the person the head picks (the two agree);
- the threshold is calibrated on each held-out face's similarity to its *own* person's anchor centre, not
  to the head's pick, so it does not move with the head's mistakes (it did: after SalUn and SCRUB, held-out
  faces the head got wrong pulled it from 0.46 to 0.32 and more forgotten faces were named).

The anchor's centres depend on each person's own photos only, so forgetting a person removes theirs
exactly, as a retrain would; with the threshold they are the same for every method's model and its
reference.
"""

from __future__ import annotations

import torch
from torch import nn

from ..common.jobs import Progress
from ..common.plan import Part
from ..common.rates import Stage
from ..faces.crops import CropCache, CropSet
from .embeddings import embed_set, embed_sets, embedding_part
from .heads import ABSENT, LinearHead, OpenSetHead, class_centres, set_threshold, similarity_to, similarity_to_choice
from .training import features_and_logits


def anchor_of(model: nn.Module) -> nn.Module | None:
    """The model's anchor, or None (an embedding model, a from-scratch or an older fine-tuned model)."""
    return getattr(model, "anchor", None)


def deciding_head(model: nn.Module) -> OpenSetHead:
    """The head whose centres and threshold decide Unknown."""
    anchor = anchor_of(model)
    return model.head if anchor is None else anchor.head


def anchor_embeddings(
    model: nn.Module,
    crops: CropSet,
    device: torch.device,
    cache: CropCache | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """The crops' embeddings under the model's anchor (read from the crop cache where they are)."""
    return embed_set(anchor_of(model), crops, device, cache, progress).images


@torch.no_grad()
def anchor_verdict(head: OpenSetHead, frozen: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each face: its anchor similarity to the person the classifier picks, and whether that person
    is also the anchor's nearest centre (a face is named only when they agree)."""
    if len(frozen) == 0:
        return torch.zeros(0), torch.zeros(0, dtype=torch.bool)
    similarity = head.similarity(frozen.float())
    chosen = logits.argmax(1).to(similarity.device)
    return similarity.gather(1, chosen.view(-1, 1)).squeeze(1), similarity.argmax(1) == chosen


@torch.no_grad()
def open_set_similarity(
    model: nn.Module,
    crops: CropSet,
    features: torch.Tensor,
    logits: torch.Tensor,
    device: torch.device,
    cache: CropCache | None = None,
) -> torch.Tensor:
    """For each face, what the threshold is compared with: its similarity to the centre of the person the
    classifier picks, in the space that decides Unknown (``ABSENT`` where an anchor disagrees with the
    pick; ``features``, ``logits``: the model's own outputs on ``crops``)."""
    if anchor_of(model) is None:
        return similarity_to_choice(model.head, features, logits)
    picked, agree = anchor_verdict(deciding_head(model), anchor_embeddings(model, crops, device, cache), logits)
    return torch.where(agree, picked, torch.full_like(picked, ABSENT))


def open_set_part(kind: str, anchored: bool, photos: int, cached: int, device: torch.device, keep: bool) -> Part:
    """What ``fit_open_set`` does on ``photos`` photos, for the time left: an anchored model has its anchor's
    embeddings at hand (``embedding_part``: ``cached`` read back, the others computed and kept with ``keep``)
    and then sets its threshold; any other model passes every photo through itself."""
    name = f"open-set-{kind}"
    if not anchored:
        return Stage(name, photos, device.type)
    _, embedding = embedding_part(name, photos, cached, device, keep)
    return (name, [*embedding, Stage(f"threshold-{kind}", photos, device.type)])


def fit_open_set(
    model: nn.Module,
    train: CropSet,
    heldout: CropSet,
    device: torch.device,
    progress: Progress | None = None,
    cache: CropCache | None = None,
) -> float:
    """Give a trained model its stranger check: the centres (an anchored model's anchor's, from the frozen
    embeddings of the training crops; an older fine-tuned model's own, from its features; an embedding
    model's centres are its head) and the threshold that keeps ``KNOWN_FACES_KEPT`` of the held-out faces
    named (an anchored model's: close enough to their own person's anchor centre). Returns the threshold."""
    progress = progress or Progress()
    head, anchor = model.head, anchor_of(model)
    calibration = heldout if len(heldout) else train
    if anchor is not None:  # on the anchor alone: each face against its own person's centre
        sets = [train] if calibration is train else [train, calibration]
        frozen = [embedded.images for embedded in embed_sets(anchor, sets, device, cache, progress)]
        anchor.head.weight.copy_(class_centres(frozen[0], train.labels, anchor.head.out_features))
        own = similarity_to(anchor.head, frozen[-1], calibration.labels)
        return set_threshold(anchor.head, own[own > ABSENT])
    if isinstance(head, LinearHead):
        features, _ = features_and_logits(model, train.images, train.spec, device, progress=progress.sub(0, 0.8))
        head.centre_rows.copy_(class_centres(features, train.labels, head.out_features))
    features, logits = features_and_logits(
        model, calibration.images, calibration.spec, device, progress=progress.sub(0.8, 1.0)
    )
    return set_threshold(head, similarity_to_choice(head, features, logits))

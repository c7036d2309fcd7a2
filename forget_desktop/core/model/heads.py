"""What sits on top of a backbone: the heads, their fitting, and the stranger check both kinds share.

Every head keeps one *centre* per person (the mean of their L2-normalised training embeddings; a
zero row is a person the head does not know) and a calibrated *threshold*: a face is named only
when its cosine similarity to the centre of the person the classifier picks reaches it, so a
stranger — or a forgotten person — comes out Unknown instead of as a look-alike.

- ``LinearHead`` (fine-tuned kind): a linear softmax layer trained with the backbone. A fine-tuned model
  with an anchor decides Unknown on the anchor's centres (``openset``); one without (from scratch, or saved
  before anchors) on centres computed from its own fine-tuned features after training.
- ``CentroidHead`` (embedding kind): the centres *are* the classifier: logits are
  ``scale · cos(embedding, centre)``. Each centre depends on one person's photos only, and the scale
  is the one number everyone shares, so a person is forgotten exactly by removing their centre and
  refitting the scale (``fit_scale``) — identical to training the head again without them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..common.jobs import Progress
from ..faces.crops import CropSet
from .training import Recipe, fit

KNOWN_FACES_KEPT = 0.99  # the threshold keeps this share of a model's own held-out faces named
ABSENT = -1.0  # similarity reported for a person the head does not know (below any real cosine)
SCALES = torch.logspace(0, 2, 121)  # candidate softmax scales for CentroidHead (1 … 100)

# Recipe for the methods that train an embedding model's head by gradient steps (the approximate
# ones); the head itself is fitted in closed form. No augmentation: the inputs are embeddings.
EMBEDDING_RECIPE = Recipe(
    epochs=1, batch_size=64, lr=1.0, weight_decay=0.0, momentum=0.9, flip=False, shift=0, head="centroid"
)


class OpenSetHead(nn.Module):
    """What both heads share: centres, the similarity to them, and the calibrated threshold."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("threshold", torch.tensor(math.nan))

    def centres(self) -> torch.Tensor:  # pragma: no cover - each head defines it
        raise NotImplementedError

    def similarity(self, features: torch.Tensor) -> torch.Tensor:
        """N×C cosine similarity of each feature vector to each person's centre (``ABSENT`` where the
        head has no centre)."""
        return cosine_to_present(features, self.centres().to(features.device, features.dtype))

    @property
    def calibrated(self) -> bool:
        return bool(torch.isfinite(self.threshold))


class LinearHead(OpenSetHead):
    """A linear softmax layer (fine-tuned kind) plus the centres of the fine-tuned features."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        self.linear = nn.Linear(in_features, out_features)
        self.register_buffer("centre_rows", torch.zeros(out_features, in_features))

    @property
    def weight(self) -> nn.Parameter:
        return self.linear.weight

    @property
    def bias(self) -> nn.Parameter:
        return self.linear.bias

    def centres(self) -> torch.Tensor:
        return self.centre_rows

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


class CentroidHead(OpenSetHead):
    """Embedding kind: ``logits = scale · cos(embedding, centre)``; a zero centre never wins."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.log_scale = nn.Parameter(torch.tensor(math.log(16.0)))

    def centres(self) -> torch.Tensor:
        return F.normalize(self.weight, dim=1)  # zero rows stay zero

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp() * cosine_to_present(features, self.centres())


def absent_rows(centres: torch.Tensor) -> torch.Tensor:
    """True for the people a head has no centre for."""
    return centres.detach().abs().sum(1) == 0


def cosine_to_present(features: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """N×C cosine of each feature to each centre, ``ABSENT`` for absent rows. The values for the people
    a head knows are computed from their rows alone, so they are the same bits as those of a head
    that never had the absent rows: dropping a forgotten person's slot changes no other output."""
    unit = F.normalize(features, dim=1)
    absent = absent_rows(centres)
    if not absent.any():
        return unit @ centres.T
    cosine = torch.full((len(features), len(centres)), ABSENT, dtype=unit.dtype, device=unit.device)
    present = (~absent).nonzero().flatten()
    return cosine.index_copy(1, present, unit @ centres[present].T)


def make_head(kind: str, in_features: int, out_features: int) -> OpenSetHead:
    return CentroidHead(in_features, out_features) if kind == "embedding" else LinearHead(in_features, out_features)


@torch.no_grad()
def keep_classes(head: OpenSetHead, keep: list[int]) -> OpenSetHead:
    """A copy of ``head`` naming only the classes ``keep`` (in that order): every other slot is dropped,
    so the head is shaped as if it had been trained without them."""
    kind = "embedding" if isinstance(head, CentroidHead) else "finetuned"
    smaller = make_head(kind, head.in_features, len(keep)).to(head.threshold.device)
    index = torch.tensor(keep, dtype=torch.long, device=head.threshold.device)
    state = head.state_dict()
    for name, value in smaller.state_dict().items():
        source = state[name]
        value.copy_(source.index_select(0, index) if source.dim() and source.shape[0] == head.out_features else source)
    return smaller


@torch.no_grad()
def class_centres(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """C×D: each class's mean normalised feature, normalised; zero for classes without examples.
    Each row depends only on that class's own rows, in their order."""
    unit = F.normalize(features.float(), dim=1)
    centres = torch.zeros(num_classes, unit.shape[1])
    for label in torch.unique(labels).tolist():
        centres[label] = F.normalize(unit[labels == label].mean(0), dim=0)
    return centres


@torch.no_grad()
def fit_scale(head: CentroidHead, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Set the softmax scale to the candidate with the lowest cross-entropy on these embeddings
    (computed where the embeddings are, whatever device the head is on)."""
    centres = head.centres().to(features.device)
    present = ~absent_rows(centres)  # a slot nobody fills plays no part: as if the head never had it
    cosine = F.normalize(features.float(), dim=1) @ centres[present].T
    labels = (present.long().cumsum(0) - 1)[labels.to(features.device)]
    losses = torch.stack([F.cross_entropy(scale * cosine, labels) for scale in SCALES])
    best = SCALES[int(torch.argmin(losses))]
    head.log_scale.copy_(torch.log(best))
    return float(best)


@torch.no_grad()
def fit_centroid_head(head: CentroidHead, features: torch.Tensor, labels: torch.Tensor) -> None:
    """Train an embedding model's head from its training embeddings: centres, then the scale."""
    head.weight.copy_(class_centres(features, labels, head.out_features))
    fit_scale(head, features, labels)


@torch.no_grad()
def similarity_to_choice(head: OpenSetHead, features: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """For each face, the cosine similarity to the centre of the person the classifier picks."""
    return similarity_to(head, features, logits.argmax(1))


def similarity_to(head: OpenSetHead, features: torch.Tensor, people: torch.Tensor) -> torch.Tensor:
    """For each face, the cosine similarity to the centre of the given person (one index per face)."""
    if len(features) == 0:
        return torch.zeros(0)
    return head.similarity(features.float()).gather(1, people.view(-1, 1).to(features.device)).squeeze(1)


@torch.no_grad()
def set_threshold(head: OpenSetHead, similarity: torch.Tensor) -> float:
    """Set ``head``'s threshold to keep ``KNOWN_FACES_KEPT`` of these known faces' similarities, read
    between the two faces nearest that share. Taking the lower one set it at the least similar face
    whenever there were fewer than 100: one odd photo of a four-person gallery (98 held out) put it at 0.19
    instead of 0.48, and a stranger at 0.195 was named."""
    if len(similarity) == 0:
        return math.nan
    value = torch.quantile(similarity, 1.0 - KNOWN_FACES_KEPT)
    head.threshold.copy_(value)
    return float(value)


def fit_learned(
    learned: torch.nn.Module,
    train: CropSet,
    recipe: Recipe,
    device: torch.device,
    progress: Progress | None = None,
    seed: int = 0,
) -> None:
    """Train what a model learns from ``train``: the whole fine-tuned model (SGD), or an embedding
    model's head (in closed form). Used for a new model and for the retrained reference alike."""
    if recipe.head == "centroid":
        fit_centroid_head(learned.head, train.images, train.labels)
    else:
        fit(learned, train, recipe, device, progress, seed=seed)

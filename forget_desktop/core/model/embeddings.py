"""Embeddings of face crops under a frozen backbone, cached per photo beside its crop.

An embedding model learns only its head, so everything it learns from — and everything an
unlearning job or an evaluation of it needs — is these vectors: computed once, then read back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..common.jobs import Progress
from ..faces.crops import EMBEDDING, CropCache, CropSet, to_input
from .models import EMBED_RECIPES, LEGACY_EMBED_RECIPE, FaceClassifier, LearnedHead, inference_copy

# Every embedding is computed in batches of exactly the model's recipe's size (the last one padded) and with
# its BatchNorm folded or not (``models.EMBED_RECIPES``), so a photo's embedding is the same bits every time;
# the recipe is part of the cache key, so embeddings computed another way are never mixed.


def embedding_key(model: FaceClassifier) -> str:
    """A short id of the frozen backbone's exact weights (cache entries are kept per backbone)."""
    key = getattr(model, "_embedding_key", None)
    if key is None:
        digest = hashlib.sha256()
        for name, tensor in model.backbone.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        key = f"{model.backbone_name}-{digest.hexdigest()[:12]}"
        if model.embed_recipe != LEGACY_EMBED_RECIPE:  # the legacy recipe keeps the keys it always had
            key += f"-{model.embed_recipe}"
        model._embedding_key = key
    return key


@torch.no_grad()
def embed(
    model: FaceClassifier, crops: torch.Tensor, spec, device: torch.device, progress: Progress | None = None
) -> torch.Tensor:
    """N×D embeddings of uint8 crops, by the model's recipe (fixed-size batches), on the CPU."""
    size, folded = EMBED_RECIPES[model.embed_recipe]
    answering = inference_copy(model).to(device) if folded else model.eval().to(device)
    parts = []
    for start in range(0, len(crops), size):
        if progress is not None:
            progress(start / max(len(crops), 1), f"Embedding faces {start}/{len(crops)}")
        batch = crops[start : start + size]
        padded = torch.cat([batch, batch[-1:].expand(size - len(batch), *batch.shape[1:])])
        parts.append(answering.features(to_input(padded.to(device), spec))[: len(batch)].float().cpu())
    return torch.cat(parts) if parts else torch.zeros(0, model.head.in_features)


# The share of embedding a face that is computing it; the rest is writing it to the cache (one file each),
# which took 0.1 to 1.6 s for LFW-62's 2,421 training faces (eta_bench): reported, so the time left sees it.
COMPUTING = 0.95


def embed_set(
    model: FaceClassifier,
    crops: CropSet,
    device: torch.device,
    cache: CropCache | None = None,
    progress: Progress | None = None,
) -> CropSet:
    """The crops as an embedding set (spec ``EMBEDDING``): cached embeddings are read back, the others
    computed and stored (with the person's name, so erasure finds them)."""
    progress = progress or Progress()
    key = embedding_key(model)
    vectors: list[np.ndarray | None] = [None] * len(crops)
    if cache is not None and crops.digests:
        vectors = [cache.load_embedding(digest, crops.spec, key) for digest in crops.digests]
    missing = [i for i, vector in enumerate(vectors) if vector is None]
    if missing:
        keeping = cache is not None and bool(crops.digests)
        computed = embed(
            model, crops.images[missing], crops.spec, device, progress.sub(0.0, COMPUTING if keeping else 1.0)
        )
        storing = progress.sub(COMPUTING, 1.0)
        for row, index in enumerate(missing):
            vectors[index] = computed[row].numpy()
            if keeping:
                if row % 100 == 0:
                    storing(row / len(missing), f"Keeping embeddings {row}/{len(missing)}")
                cache.store_embedding(
                    crops.digests[index], crops.spec, key, vectors[index], Path(crops.sources[index]).parent.name
                )
    progress(1.0, f"Embedded {len(crops)} faces")
    images = torch.from_numpy(np.stack(vectors)) if vectors else torch.zeros(0, model.head.in_features)
    return CropSet(images, crops.labels, EMBEDDING, crops.sources, crops.digests)


def learned_view(
    model: FaceClassifier,
    train: CropSet,
    heldout: CropSet,
    device: torch.device,
    cache: CropCache | None = None,
    progress: Progress | None = None,
) -> tuple[nn.Module, CropSet, CropSet]:
    """What training, unlearning and evaluation work on: the whole model on face crops (fine-tuned),
    or the head alone on the crops' embeddings (embedding kind)."""
    if model.kind != "embedding":
        return model, train, heldout
    if train.spec != EMBEDDING:
        progress = progress or Progress()
        fraction = len(train) / max(len(train) + len(heldout), 1)
        train = embed_set(model, train, device, cache, progress.sub(0, fraction))
        heldout = embed_set(model, heldout, device, cache, progress.sub(fraction, 1))
    return LearnedHead(model.head), train, heldout

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
from ..common.plan import Part, Plan
from ..common.rates import Stage
from ..faces.crops import EMBEDDING, CropCache, CropSet, CropSpec, to_input
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


def embed_set(
    model: FaceClassifier,
    crops: CropSet,
    device: torch.device,
    cache: CropCache | None = None,
    progress: Progress | None = None,
) -> CropSet:
    """The crops as an embedding set (spec ``EMBEDDING``): see ``embed_sets``."""
    return embed_sets(model, [crops], device, cache, progress)[0]


def embed_sets(
    model: FaceClassifier,
    sets: list[CropSet],
    device: torch.device,
    cache: CropCache | None = None,
    progress: Progress | None = None,
) -> list[CropSet]:
    """Each crop set as an embedding set (spec ``EMBEDDING``): cached embeddings are read back, the others
    computed (each set in batches of its own, as it always was) and then stored, after every set is computed
    (with the person's name, so erasure finds them). Computing and storing are two stages of a plan, each
    timed on this machine: storing 2,421 files took 5 to 12 % of the computing's time from run to run
    (eta_bench), and computing the held-out photos right after storing the training ones ran a third slower."""
    progress = progress or Progress()
    key = embedding_key(model)
    vectors = [
        [cache.load_embedding(digest, crops.spec, key) for digest in crops.digests]
        if cache is not None and crops.digests
        else [None] * len(crops)
        for crops in sets
    ]
    missing = [[i for i, vector in enumerate(found) if vector is None] for found in vectors]
    keeping = [cache is not None and bool(crops.digests) for crops in sets]
    kept = sum(len(rows) for rows, keep in zip(missing, keeping, strict=True) if keep)
    if any(missing):
        plan = Plan(progress, embedding_stages(sum(map(len, missing)), device, kept))
        with plan.stage("embed") as step:
            views = step.stages(*map(len, missing))
            for crops, found, rows, view in zip(sets, vectors, missing, views, strict=True):
                if rows:
                    computed = embed(model, crops.images[rows], crops.spec, device, view)
                    for row, i in enumerate(rows):
                        found[i] = computed[row].numpy()
        if kept:
            with plan.stage("keep-embeddings") as storing:
                done = 0
                for crops, found, rows, keep in zip(sets, vectors, missing, keeping, strict=True):
                    for i in rows if keep else []:
                        if done % 100 == 0:
                            storing(done / kept, f"Keeping embeddings {done}/{kept}")
                        identity = Path(crops.sources[i]).parent.name
                        cache.store_embedding(crops.digests[i], crops.spec, key, found[i], identity)
                        done += 1
    progress(1.0, f"Embedded {sum(map(len, sets))} faces")
    return [
        CropSet(
            torch.from_numpy(np.stack(found)) if found else torch.zeros(0, model.head.in_features),
            crops.labels,
            EMBEDDING,
            crops.sources,
            crops.digests,
        )
        for crops, found in zip(sets, vectors, strict=True)
    ]


def embedding_stages(faces: int, device: torch.device, kept: int) -> list[Stage]:
    """Embedding ``faces`` faces and storing ``kept`` of their embeddings in the cache."""
    return [Stage("embed", faces, device.type), Stage("keep-embeddings", kept, device.type)]


def cached_embeddings(cache: CropCache | None, spec: CropSpec, backbone: str) -> int:
    """How many photos cropped as ``spec`` have an embedding of ``backbone`` in ``cache`` (0 without one): a
    quick count for a job's time left."""
    return 0 if cache is None else cache.count(spec, f"{backbone}-")


def embedding_part(name: str, faces: int, cached: int, device: torch.device, keep: bool) -> Part:
    """A group ``name`` that has ``faces`` faces' embeddings at hand (``embed_sets``): ``cached`` of them read
    back from the cache, the others computed and, with ``keep``, stored."""
    cached = max(min(faces, cached), 0)
    read = Stage("read-embeddings", cached, device.type)
    return (name, [read, *embedding_stages(faces - cached, device, faces - cached if keep else 0)])


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
        train, heldout = embed_sets(model, [train, heldout], device, cache, progress)
    return LearnedHead(model.head), train, heldout

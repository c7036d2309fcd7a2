"""The commits of the two changes every entry point makes — a model trained, people forgotten — so the
window and the command line record them the same way (see ``workspace`` for the commit order)."""

from __future__ import annotations

from pathlib import Path

from ..common.atomic import sha256_file
from ..common.crash import crash_point
from ..data.dataset import LeftOut
from ..faces.crops import CropCache
from ..model.checkpoint import Checkpoint, save_checkpoint
from ..records.erasure import derived_files, person_photos, photo_digests
from ..records.pending import uncommitted
from ..records.store import Records
from ..unlearning.report import Erased, ForgetReport


def save_uncommitted(checkpoint: Checkpoint, path: Path, records: Records, exclusive: bool = True) -> str:
    """Save ``checkpoint`` as ``path``'s uncommitted file (atomically); returns its sha256. In hashed-names
    mode the file names its people by salted hash only (``with_names`` reads them back with the folder)."""
    meta = {k: v for k, v in checkpoint.meta.items() if k != "class_names_hashed"}
    if records.hash_names:
        meta = {
            **meta,
            "classes": [records.seen.person_hash(c) for c in meta["classes"]],
            "class_names_hashed": True,
            **({"enrolled": records.seen.person_hash(meta["enrolled"])} if meta.get("enrolled") else {}),
        }
    save_checkpoint(checkpoint.model, meta, uncommitted(path), exclusive=exclusive)
    checkpoint.path = Path(path)
    return sha256_file(uncommitted(path))


def with_names(checkpoint: Checkpoint, folder: Path | None, records: Records) -> Checkpoint:
    """A model whose file names its people by salted hash, with the names of the folder of people put
    back (in memory only; a class whose folder is not there keeps its hash)."""
    if not checkpoint.meta.get("class_names_hashed") or folder is None or not Path(folder).is_dir():
        return checkpoint
    by_hash = {records.audit.hashed(p.name): p.name for p in Path(folder).iterdir() if p.is_dir()}
    checkpoint.meta = {**checkpoint.meta, "classes": [by_hash.get(c, c) for c in checkpoint.meta["classes"]]}
    if checkpoint.meta.get("enrolled"):
        checkpoint.meta["enrolled"] = by_hash.get(checkpoint.meta["enrolled"], checkpoint.meta["enrolled"])
    return checkpoint


def commit_trained(
    records: Records, checkpoint: Checkpoint, digest: str, left_out: LeftOut, gallery_root: Path | None, in_use: bool
) -> None:
    """Record a new model (saved uncommitted at ``checkpoint.path``) in one transaction, then finish it."""
    path = Path(checkpoint.path)
    crash_point("train:model-saved")
    with records.transaction():
        records.files.finish(path, digest)
        records.seen.record(checkpoint, "trained", digest, path)
        if in_use:
            records.set_in_use(path.resolve(), digest, gallery_root)
        records.audit.append(
            {
                "event": "train",
                "people": len(checkpoint.classes),
                "kind": checkpoint.kind,
                "backbone": checkpoint.meta.get("backbone"),
                "left_out_as_forgotten": {"people": len(left_out.people), "photos": left_out.photos},
                "model_after_sha256": digest,
            }
        )
    crash_point("train:committed")
    records.finish_owed()


def plan_forget(report: ForgetReport, gallery_root: Path | None, cache: CropCache):
    """Before committing a forget: the content hashes of each forgotten person's photos, and the cache
    files derived from them (to erase)."""
    photos = {n: photo_digests(person_photos(gallery_root, n)) for n in report.forget}
    derived = derived_files(list(report.forget), cache, {d for ds in photos.values() for d in ds})
    return photos, derived


def plan_forget_photos(photos: dict[str, list[str]], cache: CropCache):
    """Before committing a forget of photos: their content hashes (by person), and the cache files
    derived from those photos only (the person's other crops and embeddings stay)."""
    digests = {d for ds in photos.values() for d in ds}
    return {name: sorted(ds) for name, ds in photos.items()}, derived_files([], cache, digests)


def commit_forget(
    records: Records,
    report: ForgetReport,
    checkpoint: Checkpoint,
    digest: str,
    before_sha256: str | None,
    plan,
    in_use_gallery: Path | None = None,
    version=None,
    root: dict | None = None,
) -> ForgetReport:
    """Record a forget request, its photos' hashes, the new model (saved uncommitted at
    ``checkpoint.path``), the erasure owed and the audit line in one transaction; then carry the
    file actions out. ``in_use_gallery`` makes the new model the one in use. Returns the report
    with its request id and what was erased."""
    photos, derived = plan
    path = Path(checkpoint.path)
    crash_point("forget:model-saved")
    try:
        with records.transaction():
            request_id = records.requests.add(report, photos, before_sha256, digest, scope=report.scope)
            if version is not None:
                records.versions.record(root, version.with_request(request_id))
            records.files.finish(path, digest, request_id)
            records.files.delete(derived, request_id)
            records.seen.record(checkpoint, "written", digest, path)
            if in_use_gallery is not None:
                records.set_in_use(path.resolve(), digest, in_use_gallery)
            crash_point("forget:before-commit")
    except BaseException:
        uncommitted(path).unlink(missing_ok=True)
        raise
    crash_point("forget:committed")
    records.finish_owed()
    counts = records.files.done_counts(request_id)
    return report.with_(
        request_id=request_id, erased=Erased(counts["crop"], counts["embedding"]), output_model=str(path)
    )

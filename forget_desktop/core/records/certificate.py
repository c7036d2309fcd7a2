"""A certificate for one forget request: what was asked, the evidence that it was done, the model
fingerprints before and after, what was erased, and where the request sits in the audit chain —
in words a data-protection officer can read, as JSON or HTML (the window and the command line turn
the HTML into a PDF with Qt).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from ..common.atomic import sha256_file, write_bytes
from ..common.errors import ForgetError
from ..model.checkpoint import now_iso
from ..unlearning import method_title
from ..unlearning.report import MODELS
from .store import Records

SCORE_WORDS = (
    ("forget_train_acc", "Their training photos recognised", "share"),
    ("forget_test_acc", "Their other photos recognised", "share"),
    ("retain_test_acc", "Everyone else's unseen photos recognised", "share"),
    ("named_as_other", "Their photos named as someone else", "share"),
    ("mia_auc", "Membership test (0.5 = cannot tell they were in the training data)", "number"),
    ("probe_acc", "Their unseen photos matched to their own by the model's features", "share"),
)


def certificate(records: Records, request_id: int) -> dict:
    """Everything a certificate says, as plain data (the JSON certificate)."""
    request = records.requests.get(request_id)
    entries, problems = records.audit.entries()
    line = next((n for n, e in enumerate(entries, start=1) if e.get("request") == request_id), None)
    report = request.report
    models = {}
    for role, digest in (("before", request.model_before_sha256), ("after", request.model_after_sha256)):
        models[role] = {"sha256": digest, "files_checked_now": _files_with(records, digest)}
    still = records.seen.knowing(list(request.people)) if request.people else []
    return {
        "certificate": "forget-desktop/erasure-certificate/1",
        "issued": now_iso(),
        "request": request.to_json(),
        "method": report.method if report else request.method,
        "exact": report.exact if report else None,
        "identical_to_reference": request.identical_to_reference,
        "reference_comparison": report.reference_comparison if report else None,
        "scores": {role: s.key_scores() for role, s in report.scores().items()} if report else {},
        "models": models,
        "erased": request.erased.to_dict(),
        "erasure_owed": request.erasure_owed,
        "photos_suppressed": request.photos_suppressed,
        "models_still_knowing": [{"path": str(m.path), "sha256": m.sha256} for m in still],
        "audit": {
            "line": line,
            "lines": len(entries),
            "head_sha256": records.audit.head()["last_sha256"],
            "problems": problems,
        },
    }


def _files_with(records: Records, digest: str | None) -> list[dict]:
    """Where the app last saw a model file with this sha256, and whether it still has it now."""
    if not digest:
        return []
    found = []
    for row in records.db.query("SELECT path FROM models_seen WHERE sha256 = ?", (digest,)):
        path = Path(row["path"])
        try:
            matches = path.is_file() and sha256_file(path) == digest
        except OSError:
            matches = False
        found.append({"path": str(path), "matches": matches})
    return found


def _share(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.0%}"


def _number(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.2f}"


def certificate_html(data: dict) -> str:
    """The certificate as a self-contained HTML page."""
    request = data["request"]
    e = html.escape
    people = ", ".join(p.replace("_", " ") for p in request["people"]) or "(photos only)"
    when = request["time"].replace("T", " ")[:16]
    if data["identical_to_reference"]:
        comparison = data.get("reference_comparison") or {}
        evidence = (
            f"The model after the request is <b>identical to a model trained from the start without them</b>: "
            f"all {comparison.get('tensors', '?')} of its weight tensors were compared, bit for bit, with such a "
            "model trained by the app for this purpose."
        )
    elif data["exact"]:
        evidence = "The model was trained again from the start without them (the exact method)."
    else:
        evidence = (
            "The method is approximate: the table compares the model after the request with a model trained "
            "from the start without them (the reference). Close values mean it behaves as if it never saw them."
        )
    rows = ""
    scores = data["scores"]
    present = [m for m in MODELS if m in scores]
    for key, words, kind in SCORE_WORDS:
        cells = "".join(f"<td>{(_share if kind == 'share' else _number)(scores[m].get(key))}</td>" for m in present)
        rows += f"<tr><td>{e(words)}</td>{cells}</tr>"
    heads = "".join(f"<th>{e(m)}</th>" for m in present)
    erased = data["erased"]
    owed = data["erasure_owed"]
    files = "".join(
        f"<li>{e(role)}: <code>{e(info['sha256'] or 'unknown')}</code>"
        + "".join(
            f"<br>&nbsp;&nbsp;{e(f['path'])}: {'has this fingerprint now' if f['matches'] else 'gone or changed'}"
            for f in info["files_checked_now"]
        )
        + "</li>"
        for role, info in data["models"].items()
    )
    still = "".join(f"<li>{e(m['path'])}</li>" for m in data["models_still_knowing"])
    audit = data["audit"]
    problems = "".join(f"<li>{e(p)}</li>" for p in audit["problems"]) or "<li>none: the chain is intact</li>"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Erasure certificate — request {request["id"]}</title>
<style>body{{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px;text-align:left}}
code{{font-size:90%;word-break:break-all}}</style></head><body>
<h1>Erasure certificate</h1>
<p>Forget request <b>{request["id"]}</b>, made on {e(when)}, asked the face-recognition app <i>Forget</i> to
forget <b>{e(people)}</b>. This certificate was issued on {e(data["issued"][:16].replace("T", " "))} from the
app's records.</p>
<h2>What was done</h2>
<p>Method: <b>{e(method_title(str(data["method"])))}</b>. {evidence}</p>
<table><tr><th>What the models do with their photos</th>{heads}</tr>{rows}</table>
<p>"original" is the model before the request, "unlearned" the model after it, and "reference" a model
trained from the start without them.</p>
<h2>Model fingerprints</h2>
<p>A model file is identified by the sha256 of its bytes. Anyone can compute it and compare.</p>
<ul>{files}</ul>
<h2>What was erased</h2>
<p>{erased["cached_crops"]} cached face crops and {erased["cached_embeddings"]} cached face embeddings made from
their photos were deleted.
{
        f"{erased['photos']} of their photos were deleted from the folder of people."
        if erased["photos"]
        else "Their photos themselves were not deleted from the folder of people: the user did not ask for it."
    }
{f"<b>{owed} deletion(s) are still owed</b> and are retried at every start." if owed else ""}
The content fingerprints (sha256) of {data["photos_suppressed"]} of their photos are kept — never the photos —
so that training, enrolment or a renamed copy of their photos never teaches the app to recognise them again
unless they are explicitly let back in.</p>
<h2>Other models that still recognise them</h2>
<ul>{still or "<li>none that the app has seen and that is still on disk</li>"}</ul>
<h2>Audit trail</h2>
<p>The request is line {audit["line"]} of the app's audit log, which has {audit["lines"]} lines, each holding the
sha256 of the line before it. The latest line's sha256 is <code>{e(str(audit["head_sha256"]))}</code>.
Problems found when the chain was checked now:</p><ul>{problems}</ul>
</body></html>
"""


def write_certificate(records: Records, request_id: int, destination: str | os.PathLike) -> Path:
    """Write ``.json`` or ``.html`` (the PDF is made by the caller from ``certificate_html``)."""
    path = Path(destination)
    data = certificate(records, request_id)
    if path.suffix.lower() == ".json":
        write_bytes(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    elif path.suffix.lower() in (".html", ".htm"):
        write_bytes(path, certificate_html(data).encode("utf-8"))
    else:
        raise ForgetError(f"A certificate can be written as .json, .html or .pdf, not '{path.suffix or path.name}'.")
    return path

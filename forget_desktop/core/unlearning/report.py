"""What a forget job reports, declared once: ``ForgetReport`` and the ``ModelScores`` of each model it
judges (the original, the unlearned model and the retrained reference).

Every reader — the workspace, the records, the Results panel, the command line and the benchmarks —
uses these classes; ``to_dict`` gives the JSON that reports on disk have always had.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

MODELS = ("original", "unlearned", "reference")
# The scores every judged model gets (the order of the report's columns).
SCORE_KEYS = (
    "forget_train_acc",
    "forget_test_acc",
    "retain_train_acc",
    "retain_test_acc",
    "mia_auc",
    "mia_auc_person",
    "probe_acc",
    "relearn_steps",
    "named_as_other",
)
# The few that an audit line and a certificate carry.
KEY_SCORES = ("forget_train_acc", "forget_test_acc", "retain_test_acc", "mia_auc", "probe_acc", "named_as_other")


@dataclass(frozen=True)
class ModelScores:
    """One model judged on the forget request's photos."""

    forget_train_acc: float
    forget_test_acc: float
    retain_train_acc: float
    retain_test_acc: float
    mia_auc: float
    mia_auc_person: float
    probe_acc: float
    relearn_steps: int
    named_as_other: float
    js_to_reference: float | None = None
    per_identity: dict[str, dict] = field(default_factory=dict)  # name -> {"test_acc": …, …}
    confusion: dict[str, list] = field(default_factory=dict)  # forgotten name -> [[named as, share], …]

    def key_scores(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in KEY_SCORES}

    def renamed(self, rename: dict[str, str]) -> ModelScores:
        """The same scores with people written as ``rename`` says (e.g. salted hashes)."""
        return dataclasses.replace(
            self,
            per_identity={rename.get(k, k): v for k, v in self.per_identity.items()},
            confusion={rename.get(k, k): [[rename.get(n, n), s] for n, s in v] for k, v in self.confusion.items()},
        )

    def to_dict(self, with_js: bool = True) -> dict:
        data = {k: getattr(self, k) for k in SCORE_KEYS}
        if with_js:
            data["js_to_reference"] = self.js_to_reference
        data["per_identity"] = self.per_identity
        data["confusion"] = self.confusion
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelScores:
        return cls(
            **{k: data[k] for k in SCORE_KEYS},
            js_to_reference=data.get("js_to_reference"),
            per_identity=dict(data.get("per_identity") or {}),
            confusion=dict(data.get("confusion") or {}),
        )


@dataclass(frozen=True)
class Erased:
    """What was deleted because of a request (counts and bytes; never paths)."""

    cached_crops: int = 0
    cached_embeddings: int = 0
    photos: int = 0
    bytes: int = 0
    photo_folders_deleted: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Erased:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: int(v or 0) for k, v in (data or {}).items() if k in names})

    def __add__(self, other: Erased) -> Erased:
        return Erased(*(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self)))


@dataclass(frozen=True)
class ForgetReport:
    """One finished forget request: what was asked, how long it took, and how each model scores."""

    method: str
    exact: bool
    options: dict
    forget: tuple[str, ...]  # the people (names, or salted hashes where the user asked for them)
    kind: str
    device: str
    seconds: float
    reference_seconds: float | None
    time_ratio: float | None
    identical_to_reference: bool | None
    reference_comparison: dict | None
    created: str
    model: str
    seed: int
    original: ModelScores
    unlearned: ModelScores
    reference: ModelScores | None
    scope: str = "people"  # "people" or "photos"
    baseline: bool = False  # a known-weak method, shown for comparison (it does not claim to forget)
    erased: Erased | None = None
    output_model: str | None = None
    request_id: int | None = None  # the forget request in the records
    photos: int = 0  # scope "photos": how many photos were forgotten (``forget`` then names their people)
    per_photo_mia: dict | None = None  # the per-photo membership test (``lira.per_photo_mia``): AUCs and scores

    def scores(self) -> dict[str, ModelScores]:
        """The judged models that are present, by role."""
        return {m: s for m in MODELS if (s := getattr(self, m)) is not None}

    def with_(self, **changes) -> ForgetReport:
        return dataclasses.replace(self, **changes)

    def renamed(self, rename: dict[str, str]) -> ForgetReport:
        """The report with the people written as ``rename`` says (names missing from it stay)."""
        return dataclasses.replace(
            self,
            forget=tuple(rename.get(n, n) for n in self.forget),
            **{m: s.renamed(rename) for m, s in self.scores().items()},
        )

    def to_dict(self) -> dict:
        """The report's JSON (NaN written as null)."""
        data = {
            "method": self.method,
            "exact": self.exact,
            "scope": self.scope,
            "baseline": self.baseline,
            "options": self.options,
            "forget": list(self.forget),
            "kind": self.kind,
            "device": self.device,
            "seconds": self.seconds,
            "reference_seconds": self.reference_seconds,
            "time_ratio": self.time_ratio,
            "identical_to_reference": self.identical_to_reference,
            "reference_comparison": self.reference_comparison,
            "created": self.created,
            "model": self.model,
            "seed": self.seed,
            "original": self.original.to_dict(),
            "unlearned": self.unlearned.to_dict(),
            "reference": self.reference.to_dict(with_js=False) if self.reference else None,
        }
        if self.erased is not None:
            data["erased"] = self.erased.to_dict()
        if self.output_model is not None:
            data["output_model"] = self.output_model
        if self.request_id is not None:
            data["request_id"] = self.request_id
        if self.scope == "photos":
            data["photos"] = self.photos
        data["per_photo_mia"] = self.per_photo_mia
        return finite(data)

    @classmethod
    def from_dict(cls, data: dict) -> ForgetReport:
        return cls(
            method=data["method"],
            exact=bool(data.get("exact")),
            options=dict(data.get("options") or {}),
            forget=tuple(data["forget"]),
            kind=data.get("kind", ""),
            device=data.get("device", ""),
            seconds=float(data["seconds"]),
            reference_seconds=data.get("reference_seconds"),
            time_ratio=data.get("time_ratio"),
            identical_to_reference=data.get("identical_to_reference"),
            reference_comparison=data.get("reference_comparison"),
            created=data.get("created", ""),
            model=data.get("model", ""),
            seed=int(data.get("seed", 0)),
            original=ModelScores.from_dict(data["original"]),
            unlearned=ModelScores.from_dict(data["unlearned"]),
            reference=ModelScores.from_dict(data["reference"]) if data.get("reference") else None,
            scope=data.get("scope", "people"),
            baseline=bool(data.get("baseline", False)),
            erased=Erased.from_dict(data["erased"]) if data.get("erased") is not None else None,
            output_model=data.get("output_model"),
            request_id=data.get("request_id"),
            photos=int(data.get("photos") or 0),
            per_photo_mia=data.get("per_photo_mia"),
        )


def finite(value):
    """JSON has no NaN: null instead, all the way down."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value

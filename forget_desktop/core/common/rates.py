"""How fast this machine does each kind of work, measured on its own runs and kept between them.

A long job is a chain of stages (find faces, embed them, train, evaluate, download …), each with a
count of work units (photos, forward passes, megabytes). The time a stage will take is its units times
the seconds per unit *this* machine last measured for that stage on that device — so the progress bar
moves with time and the time left is honest from the start, not only after a first guess is corrected.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .atomic import write_json
from .paths import data_dir

# Seconds per unit before this machine has measured a stage: the embedding model's stages measured on a quiet 2-core
# CPU (load 1.6–1.7) by tests/bench/eta_bench.py in a tuning run of its own (--passes 1 --out runs/eta-tune, not the
# reported one), with the probe (``probe.PROBE``) in the same processes, so that a new machine's probe scales them
# (``Rates.speed``). Keeping a model, scoring it, and the forget job's evaluations and method were measured again in
# five later tuning runs (runs/eta-tune3 and four others, 2026-12-06), after the original's evaluation became a stage
# of its own and scoring a new model stopped reading its embeddings back. The fine-tuned kind's: see below. A forward
# pass of the whole network costs about one face embedded. Then (2026-12-07) each stage of real work was rescaled to
# the median of what it measured in eta_bench's tuning runs runs/eta-all3 to eta-all6 (both passes), against
# finding faces and embedding, whose medians were 0.97–1.07 of theirs: the fine-tuned kind's had run at 0.75–0.94 of
# theirs, so a forget's first evaluation (0.94) said its retrain (0.86) would take longer than it did.
DEFAULT_SECONDS = {
    # per probe (probe.py: its fixed work, the fastest of several tries), counted by its square root
    # (PROBE_WEIGHT): the defaults below are the medians of runs/eta-all3 to eta-all6, whose 24 first runs' probe
    # read 0.046–0.096 s, median 0.059, so they hold where it reads that. (It was 0.095 until 2026-12-07, from
    # an earlier tuning run: the first estimates of the 18 first runs of the next three runs, eta-all7 to eta-all9,
    # came out 0.54–0.99 of the truth, 14 within ±30 %; scaled to 0.059 they are 0.68–1.26, 17 within.)
    "probe": 0.059,
    "download": 0.2,  # per MB (about 5 MB/s; the tuning run's loopback mirror says nothing of a real network)
    "unpack": 0.048,  # per MB of archive
    "find-faces": 0.0044,  # per photo (YuNet, two photos at a time)
    "find-faces-mtcnn": 0.046,  # per photo (detect_bench: 140.5 s for LFW-62 against YuNet's 30.3 s)
    "read-crops": 0.0008,  # per photo whose crop is cached
    "embed": 0.0044,  # per face
    "read-embeddings": 0.00014,  # per face whose embedding is cached
    "keep-embeddings": 0.00022,  # per embedding written to the cache (one file each; 0.0004 until eta_bench's
    # tuning runs runs/eta-all3 to eta-all5 measured 0.40–0.76 of it where the other stages ran at 0.8–1.0 of theirs)
    "fit-embedding": 0.000012,  # per training face (centres)
    "open-set-embedding": 0.0000007,  # per face
    "accuracy-embedding": 0.00000087,  # per face
    # per model: its file, its hash and the records. One default served both kinds until 2026-12-07 (0.19 s). In the
    # eta_bench jobs kept in runs/ (that day's A/B, two runs reported before it and a tuning run; not the runs
    # reported since), an embedding model's took 0.52-0.98 of it in 38 (median 0.59, where finding faces ran at
    # 0.71-0.85 of its own), and a fine-tuned model's, which writes the whole network, 0.99-2.0 in 6 (kept at 0.19).
    "keep-model-embedding": 0.13,
    "score-embedding": 0.0000085,  # per held-out face (the gallery's embeddings in memory)
    "evaluate-original-embedding": 0.000045,  # per unit of ``stage_costs`` (the original: scoring, no relearning)
    "evaluate-embedding": 0.0001,  # per forward-pass unit of ``stage_costs``
    "method-embedding": 0.05,
    "finish-embedding": 0.001,
    "retrain-embedding": 0.0014,
    "lira-embedding": 0.02,  # per ``lira.lira_parts`` unit
    "keep-embedding": 0.44,  # per forget: the version saved, what to erase found and erased, the records
    # The fine-tuned kind's, measured by eta_bench (--jobs train-finetuned,forget-finetuned, 2026-12-06: LFW-62,
    # Tony Blair forgotten with SalUn and the reference) at a probe of 0.0445 s, and scaled to the probe's default
    # above (×1.46) as the others are; the open-set stage (never measured before: an inner plan embeds its
    # anchor) from the time training left to it. The earlier defaults were 7–27 times these. An anchored model's
    # threshold and the per-photo test's shadow heads, stages of their own since, from a tuning run
    # (runs/eta-tune-ft, 2.0–2.4e-5 s a unit for both, in a run whose other stages took 0.66–0.79 of their defaults).
    "fit-finetuned": 0.018,  # per training example seen (forward and backward)
    "open-set-finetuned": 0.0044,  # per photo (a model without an anchor: one pass over the photos)
    "threshold-finetuned": 0.00003,  # per photo (an anchored model, its anchor's embeddings at hand)
    "accuracy-finetuned": 0.0045,  # per photo
    "score-finetuned": 0.0042,  # per held-out photo
    "evaluate-original-finetuned": 0.0052,  # per unit of ``stage_costs`` (forward passes)
    "evaluate-finetuned": 0.0044,
    "method-finetuned": 0.0017,  # per unit of the method's ``cost`` (SalUn's, measured)
    "finish-finetuned": 0.00015,
    "retrain-finetuned": 0.0052,
    "shadows-finetuned": 0.000024,  # per photo and person (``lira.lira_parts``)
    "keep-finetuned": 0.57,  # per forget
    "keep-model-finetuned": 0.19,  # per model (see keep-model-embedding)
}
METHOD = "method-"  # the start of an unlearning method's stage kinds (``Stage.gauges_machine``)
# Stages whose speed is the disk's, which says nothing of the processor's, nor it of theirs (``Stage.on_disk``):
# unpacking took 0.65–1.79 of its default and writing embeddings 0.72–2.5 in eta_bench's tuning runs while finding
# faces took 0.73–1.22, and an unpacking twice as slow as its default once doubled a first run's time left (+72 %).
DISK = ("unpack", "keep-embeddings")
KEEP = 0.5  # weight of the previous measurement when a new one arrives
TOOK = "took|"  # prefix of the keys that keep the seconds of each family's latest measurement
BRIEF = 0.5  # seconds: a measurement shorter than this says nothing of the machine's speed (``Rates.speed``)
# The probe counts by the square root of how it compares with its default: its fraction of a second read 0.045 to
# 0.096 s from process to process while the same jobs took 0.8 to 1.3 times as long as each other, and over 20 first
# runs of eta_bench (runs/eta-all3 to eta-diag1) the jobs' time followed the probe's reading to the power 0.47
# (0.35 over the 42 first runs of runs/eta-all3 to eta-all9, fitted per job).
PROBE_WEIGHT = 0.5


def rates_path() -> Path:
    return Path(os.environ.get("FORGET_RATES") or data_dir() / "rates.json")


@dataclass(frozen=True)
class Stage:
    """One stage of a job: its kind (a key of the rates), its units of work, and the device it runs on."""

    kind: str
    units: float
    device: str = "cpu"

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.device}"

    @property
    def family(self) -> str:
        return self.kind.split(":", 1)[0]

    @property
    def family_key(self) -> str:
        return f"{self.family}|{self.device}"

    @property
    def on_network(self) -> bool:
        """A download: its speed is the network's, and says nothing of this machine's (nor it of the network)."""
        return self.device == "network"

    @property
    def on_disk(self) -> bool:
        """Unpacking or writing: its speed is the disk's, and the processor's says nothing of it (``DISK``)."""
        return self.family in DISK

    @property
    def follows_machine(self) -> bool:
        """Whether the processor's speed says how long it takes: not a download's nor a disk stage's."""
        return not self.on_network and not self.on_disk

    @property
    def gauges_machine(self) -> bool:
        """Whether its speed says how fast this machine is: not a download's, nor an unlearning method's, whose
        units are the most it may do (it stops once the people are forgotten) and whose bar stands still while
        it caches its features (SalUn: 2–3 s of its 3–5 s), so that its speed per unit varied by half from run
        to run and took a forget's time left from 184 s to 350 s (eta_bench); nor a disk's (``DISK``). (Reading the
        crop cache gauges it too: leaving it out was tried, 2026-12-07, and every first Train job with the crops
        cached then missed ±30 % near its end, 4 runs of 4, against 0 of 3 with it: eta-ab-2026-12-07.md.)"""
        return self.follows_machine and not self.family.startswith(METHOD)


class Rates:
    """Seconds per unit for each stage kind and device, in ``rates.json`` beside the records."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path else rates_path()
        self._lock = threading.Lock()
        self._seconds = self._read()

    def _read(self) -> dict[str, float]:
        """The file's rates: none yet, or unreadable, is no rates (the file is rewritten at the next stage)."""
        try:
            saved = {str(k): float(v) for k, v in json.loads(self.path.read_text(encoding="utf-8")).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}
        return {k: v for k, v in saved.items() if math.isfinite(v) and v > 0}

    def per_unit(self, stage: Stage) -> float:
        """Seconds per unit: measured here for this stage, else for its family, else a default, scaled by
        how fast this device did the stages it did measure (``speed``) where the processor sets its pace."""
        measured = self._seconds.get(stage.key)
        if measured is None:
            measured = self._seconds.get(stage.family_key)
        if measured is not None:
            return measured
        default = DEFAULT_SECONDS.get(stage.family, 0.001)
        return default * self.speed(stage.device) if stage.follows_machine else default

    def speed(self, device: str) -> float:
        """How this device compares with the defaults (1: as they assume, 2: twice as slow): the geometric
        mean of its measured seconds per unit over the defaults, for every stage family it measured for at
        least ``BRIEF`` seconds (downloads and methods say nothing of it, ``Stage.gauges_machine``; a stage of a
        few hundredths of a second, a first evaluation say, was 1 to 4 times its default from one run to the
        next). Until it has measured one, the probe's, by its square root (``PROBE_WEIGHT`` says why); real
        work outweighs it."""
        with self._lock:
            known = dict(self._seconds)
        logs = {
            family: math.log(value / DEFAULT_SECONDS[family]) * (PROBE_WEIGHT if family == "probe" else 1.0)
            for key, value in known.items()
            for family, _, on in [key.partition("|")]
            if on == device and family in DEFAULT_SECONDS and Stage(family, 1, device).gauges_machine
            if family == "probe" or known.get(f"{TOOK}{key}", BRIEF) >= BRIEF
        }
        real = [value for family, value in logs.items() if family != "probe"]
        chosen = real or list(logs.values())
        return math.exp(sum(chosen) / len(chosen)) if chosen else 1.0

    def seconds(self, stage: Stage) -> float:
        return max(stage.units, 0.0) * self.per_unit(stage)

    def measured(self, stage: Stage) -> bool:
        return stage.key in self._seconds

    def unmeasured(self, device: str) -> bool:
        """True while this machine has measured nothing on ``device`` (not even ``probe.PROBE``)."""
        with self._lock:
            return not any(key.endswith(f"|{device}") for key in self._seconds)

    def known(self) -> dict[str, float]:
        """Every measured seconds per unit, by ``kind|device``."""
        with self._lock:
            return {key: value for key, value in self._seconds.items() if not key.startswith(TOOK)}

    def record(self, stage: Stage, seconds: float) -> None:
        """Keep what a finished stage took (a running average, saved at once)."""
        if stage.units <= 0 or seconds <= 0:
            return
        rate = seconds / stage.units
        with self._lock:
            self._seconds.update(self._read())  # what other jobs (or an inner plan's rates) kept meanwhile
            for key in (stage.key, stage.family_key):
                old = self._seconds.get(key)
                self._seconds[key] = rate if old is None else KEEP * old + (1 - KEEP) * rate
            self._seconds[f"{TOOK}{stage.family_key}"] = seconds  # how much its latest measurement says
            try:
                write_json(self.path, self._seconds)
            except (OSError, Exception):  # noqa: BLE001 - a rate not kept only makes the next estimate rougher
                pass


class Timer:
    """Measures one stage while it runs (``with``); records it in the rates if it finished."""

    def __init__(self, rates: Rates, stage: Stage) -> None:
        self.rates, self.stage, self.started = rates, stage, 0.0

    def __enter__(self) -> Timer:
        self.started = time.monotonic()
        return self

    def __exit__(self, kind, _value, _traceback) -> None:
        if kind is None:
            self.rates.record(self.stage, time.monotonic() - self.started)

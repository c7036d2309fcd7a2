"""A job's stages, laid out on its progress bar by the seconds this machine is predicted to take for each.

``Plan(progress, stages)`` splits ``progress`` in proportion to each stage's predicted seconds (its units
times this machine's measured rate, ``rates.Rates``), so the bar moves with time. ``with plan.stage(kind)
as view:`` runs one stage, and when it finishes its measured rate is kept for the next run. The job's time
left (``Progress.seconds_left``) is the predicted seconds of the stages still to come plus the current
stage's remainder: at first its predicted seconds, then more and more its own observed speed. The stages to
come are scaled by the square root of how the current stage's observed speed compares with its prediction
(half of it on a log scale), trusted as the square of the current stage's trust (a bar that has hardly
moved says little), and only in full once it has run ``SAMPLE`` seconds: the machine's load changes between
runs and within one (eta_bench: the same job 26 s and 42 s minutes apart), but one stage's speed is one sample of it,
and an unpacking's or a first evaluation's says little of training. A machine that has measured nothing has
its defaults scaled by a probe first (``probe.py``). A plan made on a stage's view is that stage's inner
plan: its time left stands for the stage's, and it keeps its own stages' rates. The stage keeps the rates of
its other stages: from the time its inner plans left over when it foresaw their work (a group that names
their kinds, such as an anchored model's open set: its anchor's embeddings, then its threshold), else from
its whole time (a stage whose inner work it never named).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from .jobs import Progress
from .rates import Rates, Stage

Part = Stage | tuple[str, Sequence["Part"]]  # one stage, or a named group of parts (run by an inner plan)
TRUSTED = 0.25  # the share of a stage after which its own observed speed alone gives its remainder
SETTLED = 0.5  # seconds of a stage before its observed speed counts at all
RECENT = 0.5  # the observed speed is that of the stage's latest half (of its time so far): a machine's load changes
SAMPLE = 10.0  # seconds a stage must have run before its observed speed counts in full for the stages to come


def trust(done: float, elapsed: float) -> float:
    """How far a running stage's own observed speed is trusted, ``done`` of it in ``elapsed`` seconds: 0 before
    it counts at all, 1 from ``TRUSTED`` of the stage on."""
    if done < 0.02 or elapsed < SETTLED:
        return 0.0
    return min(1.0, done / TRUSTED)


def stages_of(part: Part) -> list[Stage]:
    """Every stage of a part, however deeply grouped."""
    return [part] if isinstance(part, Stage) else [stage for inner in part[1] for stage in stages_of(inner)]


def predicted_seconds(parts: Sequence[Part], rates: Rates | None = None) -> float:
    """The seconds these parts are predicted to take on this machine (the defaults until measured)."""
    rates = rates if rates is not None else Rates()
    return sum(rates.seconds(stage) for part in parts for stage in stages_of(part))


class Plan:
    """See the module docstring."""

    def __init__(
        self,
        progress: Progress,
        parts: Sequence[Part],
        rates: Rates | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parent = progress.slot
        self.rates = rates if rates is not None else parent[0].rates if parent is not None else Rates()
        self.clock = clock
        self.names = [p.kind if isinstance(p, Stage) else p[0] for p in parts]
        self.groups = [tuple(stages_of(p)) for p in parts]
        self.skipped: set[int] = set()
        self.views = progress.stages(*self.predicted())
        self.span = progress.span
        self.current, self.started, self.finished = -1, 0.0, False
        self.seen: list[tuple[float, float]] = []
        self.children: list[Plan] = []  # the inner plans of the running stage, in the order they were made
        self.ran = 0.0  # seconds of the stages that finished
        if parent is not None:
            parent[0].children.append(self)
        elif progress.eta.plan is None or progress.eta.plan.finished:
            progress.eta.plan = self

    def predicted(self) -> list[float]:
        """Each stage's predicted seconds, from the rates as they are now."""
        return [self._predicted_at(index) for index in range(len(self.groups))]

    def _predicted_at(self, index: int) -> float:
        return 0.0 if index in self.skipped else sum(self.rates.seconds(stage) for stage in self.groups[index])

    @property
    def child(self) -> Plan | None:
        """The running stage's latest inner plan."""
        return self.children[-1] if self.children else None

    def total(self) -> float:
        return sum(self.predicted())

    @contextmanager
    def stage(self, name: str) -> Iterator[Progress]:
        """Run the next stage called ``name``: yields its progress view; its rate is recorded if it finishes."""
        index = self._begin(name)
        yield self.views[index].within((self, index))
        took = self.clock() - self.started
        self.ran += took
        inner = {kind for child in self.children for kind in child.kinds()}
        group = self.groups[index]
        own = tuple(stage for stage in group if stage.kind not in inner)  # an inner plan records its own
        if inner & {stage.kind for stage in group}:  # the group foresaw the inner work: the rest is its own
            took -= sum(child.ran for child in self.children)
        if own and took > 0:
            self._record(own, took)
        self.finished = self._last(index)

    def _begin(self, name: str) -> int:
        """Make the next stage called ``name`` the running one, timed from now; its index."""
        index = self.names.index(name, self.current + 1)
        self.current, self.children, self.started = index, [], self.clock()
        self.seen: list[tuple[float, float]] = [(self.started, 0.0)]  # (when, share of the stage done)
        return index

    def kinds(self) -> set[str]:
        """The kinds of stage this plan records, its inner plans' included."""
        return {stage.kind for group in self.groups for stage in group} | {
            kind for child in self.children for kind in child.kinds()
        }

    def _record(self, group: tuple[Stage, ...], seconds: float) -> None:
        """Keep a finished stage's rate; a group run as one shares its time in proportion to its predictions."""
        working = [stage for stage in group if stage.units > 0]
        shares = [self.rates.seconds(stage) for stage in working]
        for stage, share in zip(working, shares, strict=True):
            self.rates.record(stage, seconds * share / (sum(shares) or 1.0))

    def revise(self, name: str, part: Part) -> None:
        """The next stage called ``name`` has other work than first thought (once what it works on is there):
        its predicted seconds change, not its share of the bar."""
        self.groups[self.names.index(name, self.current + 1)] = tuple(stages_of(part))

    def skip(self, name: str) -> None:
        """Pass over the next stage called ``name``: it had nothing to do (and nothing is measured)."""
        index = self._begin(name)
        self.skipped.add(index)
        self.finished = self._last(index)

    def _last(self, index: int) -> bool:
        """True when no stage after ``index`` has work to do."""
        return all(stage.units <= 0 for group in self.groups[index + 1 :] for stage in group)

    def seconds_left(self, fraction: float, now: float) -> float:
        """Seconds left at ``fraction`` of the whole job: the stages to come, and the current one's rest."""
        if self.finished:
            return 0.0
        predicted = self.predicted()
        if self.current < 0:
            return sum(predicted)
        current = self._current_left(predicted[self.current], fraction, now)
        return self._to_come(self.current + 1, self.live_speed(fraction, now)) + current

    def _to_come(self, first: int, speed: float) -> float:
        """The predicted seconds of the stages from ``first`` on, scaled by what ``speed`` says of each."""
        return sum(
            0.0 if index in self.skipped else self.rates.seconds(stage) * self._scale(stage, speed)
            for index, group in enumerate(self.groups)
            if index >= first
            for stage in group
        )

    @staticmethod
    def _scale(stage: Stage, speed: float) -> float:
        """What the running stage's ``speed`` says of ``stage``: nothing of a download's (the network's) or a
        disk stage's, else half of it on a log scale (see the module docstring)."""
        return math.sqrt(speed) if stage.follows_machine else 1.0

    def live_speed(self, fraction: float, now: float) -> float:
        """How the running stage's observed speed compares with its prediction (2: twice as slow), moved
        from 1 towards it as the stage's observed speed is trusted; 1 before it counts at all."""
        if self.current < 0 or self.finished:
            return 1.0
        child = self.child
        if child is not None and not child.finished:
            return child.live_speed(fraction, now)
        predicted = self._predicted_at(self.current)
        done, elapsed = self._running(fraction, now)
        # a few seconds of one stage are a small sample of the machine: a 3-s method stage, uneven within
        # (its features cached first, then its steps), swung a 150-s retrain's estimate from 78 s to 309 s
        # and a stage whose bar hardly moves at first (SalUn caching its features for 2 s at 2 %) looks 30 times as
        # slow, an unevenness the share it has done cannot outweigh on its own (the speed it gives grows as that
        # share shrinks), so that share counts twice: it took a forget's time left from 184 s to 255 s
        weight = trust(done, elapsed) ** 2 * min(1.0, elapsed / SAMPLE)
        if predicted <= 0 or weight == 0 or not all(stage.gauges_machine for stage in self.groups[self.current]):
            return 1.0
        return 1.0 + weight * (elapsed / done / predicted - 1.0)

    def _running(self, fraction: float, now: float) -> tuple[float, float]:
        """The share of the running stage done at ``fraction`` of the whole job, and its seconds so far."""
        start, end = self.views[self.current].span
        done = min(max((fraction - start) / (end - start), 0.0), 1.0) if end > start else 0.0
        return done, now - self.started

    def _current_left(self, predicted: float, fraction: float, now: float) -> float:
        start, end = self.views[self.current].span
        child = self.child
        if child is not None and not child.finished:
            after = predicted * max(end - child.span[1], 0.0) / (end - start) if end > start else 0.0
            return child.seconds_left(fraction, now) + after
        done, elapsed = self._running(fraction, now)
        if self.seen[-1][1] < done:
            self.seen.append((now, done))
        by_rate = predicted * (1.0 - done) if done > 0 else max(predicted - elapsed, 0.0)
        weight = trust(done, elapsed)
        if weight == 0:
            return by_rate
        return weight * self._observed_left(done, now) + (1.0 - weight) * by_rate

    def _observed_left(self, done: float, now: float) -> float:
        """The current stage's rest at its speed: the mean of its speed since its bar first moved and its latest
        stretch's (``RECENT`` of its time so far). What came before the bar moved (loading a model, say) is not
        to come again: counted as slow progress, it raised the time left by 0.3–1.2 s early in each of the
        8 embeddings of eta_bench's two reported runs (a first run's to +35 %, its one miss)."""
        moved_at, moved = self.seen[1] if len(self.seen) > 1 else self.seen[0]
        if done - moved < 0.01:  # too little since: the whole stage's speed
            moved_at, moved = self.seen[0]
        since = now - RECENT * (now - self.started)
        when, then = next(((t, d) for t, d in self.seen if t >= since), (moved_at, moved))
        if done - then < 0.01 or now - when < SETTLED:
            when, then = moved_at, moved
        recent = (now - when) * (1.0 - done) / max(done - then, 1e-9)
        steady = (now - moved_at) * (1.0 - done) / max(done - moved, 1e-9)
        return (recent + steady) / 2  # a stretch's speed is noisy alone

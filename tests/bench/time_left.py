"""How a job's time left is judged against the truth, shared by eta_bench.py and gui_bench.py.

A trace is the job's length in seconds and one row per progress report: (seconds into the job, fraction done,
estimated seconds left or None, true seconds left, …). The error is (estimate − truth) / truth, judged from
10 % of the job onward while at least ``FLOOR`` of the job's time is left (in the last seconds any error is
a large share). Target: within ±30 %.
"""

from __future__ import annotations

FLOOR = 0.05  # share of the job's time: errors are judged while at least this much is left
MARKS = (0.10, 0.25, 0.50, 0.75)
TARGET = 0.30


def trace_of(started: float, ended: float, reports: list[tuple]) -> dict:
    """A trace from reports of (clock time, fraction, seconds left, anything else…) taken between ``started``
    and ``ended``; what follows the seconds left is kept after the truth."""
    rows = [
        (round(t - started, 2), round(f, 4), None if left is None else round(left, 2), round(ended - t, 2), *rest)
        for t, f, left, *rest in reports
        if t >= started
    ]
    return {"seconds": ended - started, "reports": rows}


def judge(trace: dict) -> dict:
    """Worst error from 10 % on (while ``FLOOR`` of the time is left), and the error at each mark."""
    seconds, rows = trace["seconds"], trace["reports"]
    judged = [(f, left, true) for _, f, left, true, *_ in rows if f >= 0.10 and true >= FLOOR * seconds]
    errors = [(f, None if left is None else (left - true) / true) for f, left, true in judged]
    missing = sum(1 for _, e in errors if e is None)
    values = [e for _, e in errors if e is not None]
    worst = max(values, key=abs) if values else None
    at = {}
    for mark in MARKS:
        row = next(((f, left, true) for _, f, left, true, *_ in rows if f >= mark), None)
        if row is not None and row[1] is not None and row[2] > 0:
            at[f"{mark:.0%}"] = {
                "estimate": round(row[1], 1),
                "truth": round(row[2], 1),
                "error": (row[1] - row[2]) / row[2],
            }
    return {
        "seconds": round(seconds, 1),
        "reports": len(rows),
        "judged": len(judged),
        "without_estimate": missing,
        "worst_error": worst,
        "met": worst is not None and abs(worst) <= TARGET and not missing,
        "at": at,
    }


def marks_cells(result: dict) -> list[str]:
    """The error at each mark, as a table's cells: error (estimate / truth seconds left)."""
    marks = [result["at"].get(f"{m:.0%}") for m in MARKS]
    return [f"{m['error']:+.0%} ({m['estimate']:.0f} / {m['truth']:.0f} s)" if m else "–" for m in marks]

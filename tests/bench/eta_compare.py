"""Several eta_bench runs side by side: how many runs met ±30 %, and how each estimate behaved as embedding began.

    python tests/bench/eta_compare.py --out tests/bench/results/eta-ab NAME=runs/eta-x.json NAME=runs/eta-y.json ...

For an A/B of two versions of the estimate, run eta_bench with each version alternately on the same quiet machine
and name each run after its version (``old-1=…``, ``new-1=…``). Per run it gives the jobs that met ±30 % (eta_bench's
own judgement) and, for the jobs that embed faces, the largest rise of the time left from one report to the next in
embedding's first 1.5 s, time passed added back (a steady estimate rises by 0; one that takes a stage's start-up for
slow progress rises by the seconds it then adds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EMBEDDING_JOBS = ("train-empty", "first-run")
WINDOW = 1.5  # seconds of embedding looked at


def start_rise(reports: list) -> float | None:
    """The largest rise of the time left between two reports in embedding's first ``WINDOW`` seconds."""
    start = next((i for i, row in enumerate(reports) if row[4].endswith("embed/embed")), None)
    if start is None:
        return None
    rows = [row for row in reports[start:] if row[0] <= reports[start][0] + WINDOW and row[2] is not None]
    return max(((b[2] - a[2]) + (b[0] - a[0]) for a, b in zip(rows, rows[1:], strict=False)), default=None)


def summarise(name: str, path: Path) -> dict:
    passes = json.loads(path.read_text())["passes"]
    jobs = [(number, job, result) for number, by_job in passes.items() for job, result in by_job.items()]
    rises = {
        f"{job} (pass {number})": start_rise(result["trace"]["reports"])
        for number, job, result in jobs
        if job in EMBEDDING_JOBS
    }
    missed = [
        f"{job} (pass {number}, {result['worst_error']:+.0%})" for number, job, result in jobs if not result["met"]
    ]
    return {
        "name": name,
        "file": str(path),
        "met": len(jobs) - len(missed),
        "runs": len(jobs),
        "missed": missed,
        "rises": rises,
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "# Time left: eta_bench runs compared",
        "",
        f"Written by `tests/bench/eta_compare.py`. Rise: the largest rise of the time left from one report to the next "
        f"in embedding's first {WINDOW} s, time passed added back.",
        "",
        "| run | met ±30 % | missed (worst error) | rise as embedding began |",
        "|---|---|---|---|",
    ]
    for row in rows:
        rises = "; ".join(f"{job} {rise:+.2f} s" for job, rise in row["rises"].items() if rise is not None)
        lines.append(f"| {row['name']} | {row['met']} of {row['runs']} | {', '.join(row['missed']) or '–'} | {rises} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="NAME=path of an eta_bench .json")
    parser.add_argument("--out", required=True, help="results path without suffix")
    args = parser.parse_args()
    rows = [summarise(name, Path(path)) for name, _, path in (run.partition("=") for run in args.runs)]
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    out.with_suffix(".md").write_text(markdown(rows))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()

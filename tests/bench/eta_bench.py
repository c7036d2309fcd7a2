"""How honest the time left is: real jobs on LFW-62, the estimate at every progress report against the truth.

    nice -n 5 python tests/bench/eta_bench.py [--passes 2] [--jobs train-empty,train-warm,forget,first-run]
    nice -n 5 python tests/bench/eta_bench.py --jobs train-finetuned,forget-finetuned

Each job runs in a process of its own, as the app runs it, on the CPU, its passes one after the other:

- ``train-empty``: ``train_model`` (what train_face.py runs) on LFW-62 from an empty crop cache;
- ``train-warm``: the window's Train job (``Workspace.train``) with that cache warm;
- ``forget``: the window's Forget job on that model (Tony Blair, the default method, with its reference);
- ``train-finetuned`` and ``forget-finetuned``: the same two jobs for a fine-tuned model (its default method,
  SalUn, then the reference retrain, the slow part); not in the default run (about 4 minutes a pass each);
- ``first-run``: Get started (``first_run.get_started``) with nothing on disk, downloading from the loopback
  mirror of tests/mirror.py (the real MobileFaceNet weights, LFW-62 packed as the real archive is).

At every report the job's fraction and its estimated seconds left (``Progress.seconds_left``, what the
window shows) are kept; the true seconds left are known once it ends. Pass 1 runs each job with no rates
measured (a new rates file); pass 2 runs it again (a new empty cache, a new data folder) with the rates
file its pass-1 run left. The error is (estimate − truth) / truth, judged from 10 % of the job onward
while at least ``FLOOR`` of the job's time is left (in the last seconds any error is a large share).
Writes tests/bench/results/eta-cpu.md and .json.

Removing thousands of files slows this machine's disk (ext4 mounted with ``discard``) for minutes after:
3,023 embeddings took 1.6-2.7 s to write right after a removal, 0.53-0.78 s right after 3,023 crops were
written with none (2026-12-07). A run's temporary folder (about 30,000 files) is removed at its end, so the
first jobs of a run started right after another one wrote at that pace. ``--scratch DIR`` keeps the files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from common import DATA, ROOT, WEIGHTS, Path, results_stem
from time_left import FLOOR, judge, marks_cells, trace_of

JOBS = ("train-empty", "train-warm", "forget", "first-run")
WORKSPACE_JOBS = ("train-warm", "forget", "train-finetuned", "forget-finetuned")


def run_job(job: str, folder: Path, trace: Path) -> None:
    """One job in this process, its reports written to ``trace`` (run as ``--job``)."""
    import torch

    from forget_desktop.core.common.jobs import Progress
    from forget_desktop.core.common.runtime import get_ready

    get_ready()  # as the window does first thing at launch, before any job the user starts
    device = torch.device("cpu")
    reports: list[tuple[float, float, float | None, str]] = []
    progress = Progress()

    def report(fraction: float, _message: str) -> None:
        reports.append((time.monotonic(), fraction, progress.seconds_left(), running_stage(progress.eta.plan)))

    progress = Progress(report)
    started = time.monotonic()
    if job == "train-empty":
        from forget_desktop.core.app.train_job import TrainRequest, train_model
        from forget_desktop.core.faces.crops import CropCache

        request = TrainRequest(DATA["lfw"], "mobilefacenet", folder / "model.ckpt", str(WEIGHTS))
        train_model(request, device, progress, CropCache())  # crops and embeddings kept, as the window keeps them
    elif job in WORKSPACE_JOBS:
        from forget_desktop.core.app.workspace import Workspace

        workspace = Workspace(device)
        workspace.open_gallery(DATA["lfw"])
        kind = "finetuned" if job.endswith("finetuned") else None
        if job.startswith("train"):
            started = time.monotonic()
            workspace.train("mobilefacenet", str(WEIGHTS), None, kind, progress)
        else:
            kept, os.environ["FORGET_RATES"] = os.environ["FORGET_RATES"], str(folder / "setup-rates.json")
            workspace.train("mobilefacenet", str(WEIGHTS), None, kind)  # not the job: measured apart
            os.environ["FORGET_RATES"] = kept
            started = time.monotonic()
            workspace.forget(["Tony_Blair"], None, {}, True, progress)
    else:
        from forget_desktop.core.app.first_run import get_started
        from forget_desktop.core.app.workspace import Workspace

        get_started(Workspace(device), progress, folder / "lfw-demo")
    trace.write_text(json.dumps(trace_of(started, time.monotonic(), reports)))


def running_stage(plan) -> str:
    """The running stage's name with its inner plans' (``train/embed``), for reading a miss stage by stage."""
    names = []
    while plan is not None and 0 <= plan.current < len(plan.names):
        names.append(plan.names[plan.current])
        plan = plan.child
    return "/".join(names)


def job_env(job: str, scratch: Path, rates: Path, mirror_env: dict) -> dict:
    """A job's own data folder and rates file; the train jobs and forget share the pass's crop cache."""
    cache = scratch / ("cache-first-run" if job == "first-run" else "cache")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FORGET_DATA_DIR": str(scratch / f"data-{job}"),
        "FORGET_CACHE_DIR": str(cache),
        "FORGET_RATES": str(rates),
        "FORGET_MOBILEFACENET_WEIGHTS": str(WEIGHTS),
    }
    if job == "first-run":
        env.update(mirror_env, FORGET_MOBILEFACENET_WEIGHTS=str(scratch / "data-first-run" / "mobilefacenet.pt"))
    return env


def run_once(job: str, number: int, scratch: Path, kept: Path, mirror_env: dict) -> dict:
    """One job once: pass 1 with a new rates file, later passes with the one the job left before."""
    rates = scratch / f"rates-{job}.json"
    if number > 1 and (kept / f"rates-{job}.json").exists():
        shutil.copy(kept / f"rates-{job}.json", rates)
    trace = scratch / f"trace-{job}.json"
    folder = scratch / f"job-{job}"
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, "--job", job, "--folder", str(folder), "--trace", str(trace)]
    load = os.getloadavg()[0]
    run = subprocess.run(command, env=job_env(job, scratch, rates, mirror_env), capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{job} failed:\n{run.stderr[-3000:]}")
    data = json.loads(trace.read_text())
    result = {**judge(data), "load": [round(load, 2), round(os.getloadavg()[0], 2)], "trace": data}
    if rates.exists():
        shutil.copy(rates, kept / f"rates-{job}.json")
        result["rates"] = json.loads(rates.read_text())
    summary = {k: v for k, v in result.items() if k not in ("trace", "rates")}
    print(f"pass {number} {job}: {summary}", flush=True)
    return result


def mirror_setup(scratch: Path):
    """The loopback mirror (a context manager) and the environment pointing downloads at it."""
    sys.path.insert(0, str(ROOT / "tests"))
    from forget_desktop.core.common import downloads
    from mirror import Mirror, real_files

    people = {p.name: len(list(p.iterdir())) for p in sorted(DATA["lfw"].iterdir())}
    files, manifest = real_files(people)
    (scratch / "manifest.json").write_text(json.dumps(manifest))
    mirror = Mirror(files)
    return mirror, {downloads.MANIFEST_ENV: str(scratch / "manifest.json")}, downloads.MIRROR_ENV


def write_markdown(results: dict, out: Path) -> None:
    lines = [
        "# Time left: estimate against truth (CPU)",
        "",
        f"{results['machine']}. Each job in its own process; pass 1 with no rates measured, pass 2 with the "
        "rates its pass-1 run kept (a new empty cache and data folder again). Error = (estimate − truth) / "
        f"truth, judged at every progress report from 10 % of the job on, while ≥ {FLOOR:.0%} of its time is "
        "left. Target: within ±30 %.",
        "",
        "| pass | job | seconds | reports judged | worst error | at 10 % | at 25 % | at 50 % | at 75 % | ±30 % "
        "| load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number, jobs in results["passes"].items():
        for job, r in jobs.items():
            cells = marks_cells(r)
            worst = "no estimate" if r["worst_error"] is None else f"{r['worst_error']:+.0%}"
            missing = f", {r['without_estimate']} without an estimate" if r["without_estimate"] else ""
            lines.append(
                f"| {number} | {job} | {r['seconds']} | {r['judged']}{missing} | {worst} | {' | '.join(cells)} | "
                f"{'met' if r['met'] else 'missed'} | {r['load'][0]} → {r['load'][1]} |"
            )
    lines += ["", "Cells at a mark: error (estimate / truth seconds left).", ""]
    out.with_suffix(".md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--jobs", default=",".join(JOBS))
    parser.add_argument("--out", help="results path without suffix (default tests/bench/results/eta-cpu)")
    parser.add_argument(
        "--scratch",
        help="a new folder for the jobs' files, kept afterwards (default: a temporary one, removed at the end, whose "
        "removal slows the disk's writes for minutes after; see the module docstring)",
    )
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--trace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        return run_job(args.job, Path(args.folder), Path(args.trace))
    jobs = [j for j in args.jobs.split(",") if j]
    out = results_stem(args.out, "eta-cpu")
    results = {"machine": f"{os.cpu_count()} CPU cores, torch threads as the app sets them", "passes": {}}
    if args.scratch:
        Path(args.scratch).mkdir(parents=True)  # a new one: files left by an earlier run are not this run's
    with contextlib.nullcontext(args.scratch) if args.scratch else tempfile.TemporaryDirectory(prefix="eta-") as base:
        base = Path(base)
        kept = base / "kept"
        kept.mkdir()
        mirror, mirror_env, mirror_key = mirror_setup(base)
        with mirror:
            mirror_env[mirror_key] = mirror.url
            for job in jobs:  # each job's passes one after the other: partial results are whole jobs
                for number in range(1, args.passes + 1):
                    scratch = base / f"pass-{number}"
                    scratch.mkdir(exist_ok=True)
                    result = run_once(job, number, scratch, kept, mirror_env)
                    results["passes"].setdefault(str(number), {})[job] = result
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
                    write_markdown(results, out)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()

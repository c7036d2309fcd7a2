"""How the numeric libraries' idle threads (spinning or sleeping) change the app's jobs, on a quiet machine
and beside one other busy program.

    nice -n 5 python tests/bench/omp_bench.py [--rounds 2] [--out STEM]

torch runs its CPU work on a team of OpenMP threads (GNU libgomp here). Between two parallel regions a
thread with nothing to do spins for a while before it sleeps (``OMP_WAIT_POLICY`` unset), or sleeps at once
(``PASSIVE``). Each round runs every job in a new process of the real command line, once per mode and
condition, in alternating order:

- ``forget-small``: ``unlearn --method exact`` of one person from an embedding model of 5 LFW people × 12
  photos, the whole job (evaluations, the reference, the per-photo test's 64 shadow heads);
- ``forget-small-finetuned``: ``unlearn --method salun`` of one person from a fine-tuned model of 4 people;
- ``train-lfw``: ``train/train_face.py`` on LFW-62 (embedding kind), the faces cached, the embeddings not.

Conditions: *quiet*, and *busy*: one other process spinning on one core for the whole job (a second program
at work, as on a user's machine). Modes: *spin a while* (``GOMP_SPINCOUNT=300000``, libgomp's own default
where ``OMP_WAIT_POLICY`` is unset), *spin briefly* (a tenth of it) and *sleep at once*
(``OMP_WAIT_POLICY=PASSIVE``). Wall seconds of each process, and each mode's over spin a while's, in the same
round.
Writes tests/bench/results/omp-cpu.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import DATA, ROOT, WEIGHTS, Path, results_stem

MODES = {
    "spin a while": {"GOMP_SPINCOUNT": "300000"},
    "spin briefly": {"GOMP_SPINCOUNT": "30000"},
    "sleep at once": {"OMP_WAIT_POLICY": "PASSIVE"},
}
BASE = "spin a while"  # the others are given as a share of its seconds
CONDITIONS = ("quiet", "busy")
SMALL = ["Tony_Blair", "Hugo_Chavez", "Serena_Williams", "Jennifer_Capriati", "Ariel_Sharon"]
SMALL_FINETUNED = ["Colin_Powell", "Hugo_Chavez", "Tony_Blair", "Gerhard_Schroeder"]
LFW = DATA["lfw"]
CROPS = ROOT / "runs" / "cache" / "crops"  # LFW-62's crops, as common.py keeps them for every benchmark


def base_env(scratch: Path, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(MODES[mode])
    env.update(
        FORGET_DATA_DIR=str(scratch / "data"),
        FORGET_RATES=str(scratch / "rates.json"),
        FORGET_MOBILEFACENET_WEIGHTS=str(WEIGHTS),
        PYTHONPATH=str(ROOT),
    )
    return env


def gallery(folder: Path, people: list[str], count: int) -> Path:
    for name in people:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for photo in sorted((LFW / name).iterdir())[:count]:
            shutil.copy(photo, folder / name / photo.name)
    return folder


def prepare(work: Path) -> dict:
    """The two small galleries, their models and their face caches, made once (not timed)."""
    made = {}
    for name, people, count, kind in (
        ("small", SMALL, 12, "embedding"),
        ("small-finetuned", SMALL_FINETUNED, 12, "finetuned"),
    ):
        folder = gallery(work / name / "people", people, count)
        cache = work / name / "cache"
        model = work / name / "model.ckpt"
        env = base_env(work / name / "scratch", "sleep at once") | {"FORGET_CACHE_DIR": str(cache)}
        command = [sys.executable, str(ROOT / "train" / "train_face.py"), "--data", str(folder), "--out", str(model)]
        command += ["--weights", str(WEIGHTS), "--kind", kind, "--device", "cpu"] + (
            ["--epochs", "2"] if kind == "finetuned" else []
        )
        subprocess.run(command, env=env, check=True, capture_output=True)
        made[name] = (folder, cache, model)
    return made


def job_command(job: str, made: dict, scratch: Path) -> tuple[list[str], dict]:
    """The command line of one job and the environment it adds (its own caches, so nothing it erases or
    writes reaches another run)."""
    if job == "train-lfw":
        cache = scratch / "cache"
        cache.mkdir(parents=True)
        (cache / "crops").symlink_to(CROPS)  # cached faces; the embeddings are made in this run
        command = [sys.executable, str(ROOT / "train" / "train_face.py"), "--data", str(LFW), "--weights", str(WEIGHTS)]
        return command + ["--out", str(scratch / "lfw.ckpt"), "--kind", "embedding", "--device", "cpu"], {
            "FORGET_CACHE_DIR": str(cache)
        }
    name, method, person = {
        "forget-small": ("small", "exact", "Hugo_Chavez"),
        "forget-small-finetuned": ("small-finetuned", "salun", "Hugo_Chavez"),
    }[job]
    folder, cache, model = made[name]
    shutil.copytree(cache, scratch / "cache")  # the job erases the person's cached faces
    command = [sys.executable, "-m", "forget_desktop", "unlearn", "--model", str(model), "--data", str(folder)]
    command += ["--forget", person, "--method", method, "--out", str(scratch / "out.ckpt"), "--device", "cpu"]
    return command, {"FORGET_CACHE_DIR": str(scratch / "cache")}


def timed(job: str, mode: str, condition: str, made: dict, work: Path) -> float:
    scratch = Path(tempfile.mkdtemp(prefix=f"{job}-", dir=work))
    command, extra = job_command(job, made, scratch)
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"  # ends with this benchmark
    busy = subprocess.Popen([sys.executable, "-c", spin]) if condition == "busy" else None
    try:
        started = time.perf_counter()
        result = subprocess.run(command, env=base_env(scratch, mode) | extra, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    shutil.rmtree(scratch, ignore_errors=True)
    if result.returncode != 0:
        raise SystemExit(f"{job} failed ({mode}, {condition}): {result.stderr[-2000:]}")
    return seconds


def report(data: dict) -> str:
    lines = [
        "# Idle threads: spinning or sleeping (CPU)",
        "",
        f"{os.cpu_count()} cores, torch's own thread count. {data['about']}",
        "",
        "| job | condition | round | " + " | ".join(f"{mode}, s (÷ {BASE})" for mode in MODES) + " |",
        "|---|---|---|" + "---|" * len(MODES),
    ]
    ratios: dict[tuple[str, str, str], list[float]] = {}
    for row in data["rows"]:
        cells = []
        for mode in MODES:
            ratio = row[mode] / row[BASE]
            ratios.setdefault((row["job"], row["condition"], mode), []).append(ratio)
            cells.append(f"{row[mode]:.2f}" if mode == BASE else f"{row[mode]:.2f} ({ratio:.2f})")
        lines.append(f"| {row['job']} | {row['condition']} | {row['round']} | " + " | ".join(cells) + " |")
    lines += ["", f"Ratios to {BASE} per job and condition, in the same round:"]
    for (job, condition, mode), values in ratios.items():
        if mode != BASE:
            lines.append(
                f"- {job}, {condition}, {mode}: {min(values):.2f}–{max(values):.2f} "
                f"(median {statistics.median(values):.2f})"
            )
    if data.get("note"):
        lines += ["", data["note"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", default="forget-small,forget-small-finetuned,train-lfw")
    parser.add_argument("--out")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    stem = results_stem(args.out, "omp-cpu")
    work = Path(tempfile.mkdtemp(prefix="omp-bench-"))
    started = time.time()
    made = prepare(work)
    rows = []
    for round_ in range(1, args.rounds + 1):
        for job in args.jobs.split(","):
            for condition in CONDITIONS:
                order = list(MODES) if round_ % 2 else list(reversed(MODES))  # alternating
                row = {"job": job, "condition": condition, "round": round_}
                for mode in order:
                    row[mode] = timed(job, mode, condition, made, work)
                print(json.dumps(row), flush=True)
                rows.append(row)
    shutil.rmtree(work, ignore_errors=True)
    about = (
        f"Each job a new process of the real command line; in each round every mode one after the other, their "
        f"order alternating from round to round. torch {__import__('torch').__version__}; "
        f"{(time.time() - started) / 60:.1f} min in all."
    )
    data = {"about": about, "rows": rows, "note": args.note, "command": " ".join(sys.argv[1:])}
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1))
    stem.with_suffix(".md").write_text(report(data))
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()

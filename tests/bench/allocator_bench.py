"""How much the C heap's thresholds (``core/common/allocator.py``) change a new process's speed and memory.

    nice -n 5 python tests/bench/allocator_bench.py [--rounds 4] [--forget Jennifer_Aniston,Laura_Bush]

Each round runs two new processes one after the other, in alternating order: one with glibc's thresholds as a
process starts, one with ``keep_freed_memory`` (the app's launch). Each does what the window does when a
user opens the fine-tuned LFW-62 model and forgets: ``get_ready``, open the model and the gallery, and the
forget job's first stage (the original's evaluation, whose seconds its rates file keeps), stopped as the
method begins; then it scores 500 faces with the model three times (the fastest kept). Peak and final
resident memory are read from the process itself. Writes tests/bench/results/allocator-cpu.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from common import DATA, ROOT, Path, ensure_model, results_stem

MODES = ("glibc as it starts", "freed memory kept")


def child(mode: str, model: str, forget: list[str], out: Path) -> None:
    """One process: the first evaluation of a forget job and scoring, with the thresholds of ``mode``."""
    import torch

    from forget_desktop.core.common import runtime
    from forget_desktop.core.common.jobs import Cancelled, Progress

    scratch = Path(tempfile.mkdtemp(prefix="allocator-"))
    os.environ["FORGET_RATES"] = str(scratch / "rates.json")
    os.environ["FORGET_DATA_DIR"] = str(scratch / "data")
    if mode == MODES[0]:
        runtime.keep_freed_memory = lambda: False  # everything else the launch does stays as it is
    runtime.get_ready()
    from forget_desktop.core.app.workspace import Workspace
    from forget_desktop.core.faces.crops import ARCFACE_112
    from forget_desktop.core.model.training import features_and_logits

    workspace = Workspace(torch.device("cpu"))
    workspace.open_model(model)
    workspace.open_gallery(DATA["lfw"])

    def report(_fraction: float, message: str) -> None:
        if message.startswith("SalUn"):
            raise Cancelled()

    try:
        workspace.forget(forget, None, {}, True, Progress(report))
    except Cancelled:
        pass
    rates = json.loads((scratch / "rates.json").read_text())
    faces = (torch.rand(500, 3, 112, 112, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    scoring = []
    for _ in range(3):
        started = time.perf_counter()
        features_and_logits(workspace.checkpoint.model, faces, ARCFACE_112, torch.device("cpu"))
        scoring.append(time.perf_counter() - started)
    status = {line.split(":")[0]: line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS")}
    out.write_text(
        json.dumps(
            {
                "evaluation_s": rates["took|evaluate-original-finetuned|cpu"],
                "scoring_500_s": min(scoring),
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "final_mb": int(status["VmRSS"]) / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--forget", default="Jennifer_Aniston,Laura_Bush")
    parser.add_argument("--out", help="results path without suffix (default tests/bench/results/allocator-cpu)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.model, args.forget.split(","), Path(args.result))
    import torch

    model = ensure_model("lfw", ROOT / "runs" / "lfw62-mobilefacenet.ckpt", torch.device("cpu"))
    rounds = []
    with tempfile.TemporaryDirectory() as scratch:
        for number in range(args.rounds):
            order = MODES if number % 2 == 0 else MODES[::-1]
            runs = {}
            for mode in order:
                result = Path(scratch) / "result.json"
                command = [sys.executable, __file__, "--child", mode, "--model", str(model), "--forget", args.forget]
                subprocess.run([*command, "--result", str(result)], check=True, capture_output=True)
                runs[mode] = json.loads(result.read_text())
                print(number + 1, mode, runs[mode], flush=True)
            rounds.append(runs)
    out = results_stem(args.out, "allocator-cpu")
    results = {"forget": args.forget, "cores": os.cpu_count(), "rounds": rounds}
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    write_markdown(results, out)
    print(out.with_suffix(".md").read_text())


def write_markdown(results: dict, out: Path) -> None:
    start, kept = MODES
    keys = (("evaluation_s", "first evaluation, s"), ("scoring_500_s", "scoring 500 faces, s"))
    keys += (("peak_mb", "peak memory, MB"), ("final_mb", "memory at the end, MB"))
    lines = [
        "# The C heap's thresholds: a new process's speed and memory (CPU)",
        "",
        f"{results['cores']} cores. Each round: two new processes in alternating order, one with glibc's thresholds "
        "as a process starts and one with the app's (`keep_freed_memory`), each opening the fine-tuned LFW-62 model "
        f"and forgetting {results['forget'].replace(',', ', ')} up to the method (the original's evaluation), then "
        "scoring 500 faces (fastest of three). Ratio: the app's over glibc's as it starts, in the same round.",
        "",
        "| round | " + " | ".join(f"{label}: {start} → kept (ratio)" for _, label in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    ratios = {key: [] for key, _ in keys}
    for number, runs in enumerate(results["rounds"], 1):
        cells = []
        for key, _ in keys:
            a, b = runs[start][key], runs[kept][key]
            ratios[key].append(b / a)
            digits = 2 if key.endswith("_s") else 0
            cells.append(f"{a:.{digits}f} → {b:.{digits}f} ({b / a:.2f})")
        lines.append(f"| {number} | " + " | ".join(cells) + " |")
    lines += ["", "Ratios per round (kept / as it starts):"]
    for key, label in keys:
        values = ratios[key]
        lines.append(f"- {label}: {min(values):.2f}–{max(values):.2f} (median {statistics.median(values):.2f})")
    lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()

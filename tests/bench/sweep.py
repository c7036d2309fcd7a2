"""Choose each unlearning method's defaults: a small grid per method on the tuning seeds (10–12: their
own original models, splits and forgotten people or digits, never the benchmark's report seeds),
scored per seed against retrained references with the benchmark's targets.

    python tests/bench/sweep.py [--device cpu] [--seeds 10,11,12] [--datasets lfw,mnist] \
        [--methods salun,scrub] [--grid grid.json] [--out tests/bench/results/sweep-issue18]

References are cached in runs/reference-cache/ between runs (the sweep compares settings; the
benchmark, unlearn_bench.py, measures time ratios against references retrained in the same run).
"""

from __future__ import annotations

import argparse
import json
import time

from common import (
    GAP_KEYS,
    ROOT,
    Path,
    cached_reference,
    device_from,
    ensure_model,
    gaps,
    load_dataset,
    make_scenario,
    mean,
    results_stem,
    run_one,
    targets_met,
)
from forget_desktop.core.common.errors import ForgetError

# Settings tried for issue 18 (the defaults are the first of each list; see the results file).
GRIDS = {"salun": [{}], "scrub": [{}], "ssd": [{}], "neggrad_plus": [{}], "finetune": [{}]}
SIZES = (("forget-1", 1), ("forget-5", 5))
JUDGED = ("salun", "scrub", "ssd", "neggrad_plus")  # JS is shown for every row while tuning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", default="10,11,12")
    parser.add_argument("--datasets", default="lfw,mnist")
    parser.add_argument("--sizes", default="1,5", help="forget-N scenarios to run")
    parser.add_argument("--methods", default=",".join(GRIDS))
    parser.add_argument("--grid", help="a JSON file {method: [options, ...]} replacing GRIDS")
    parser.add_argument("--runs", default=str(ROOT / "runs"))
    parser.add_argument("--cache", default=str(ROOT / "runs" / "reference-cache"))
    parser.add_argument("--out", help="output stem (default tests/bench/results/sweep-issue18)")
    args = parser.parse_args()
    device = device_from(args.device)
    grids = json.loads(Path(args.grid).read_text()) if args.grid else GRIDS
    sizes = [s for s in SIZES if str(s[1]) in args.sizes.split(",")]
    out = results_stem(args.out, "sweep-issue18")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, failures, started = [], [], time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        for dataset in args.datasets.split(","):
            name = "lfw62-mobilefacenet" if dataset == "lfw" else "mnist"
            path = ensure_model(dataset, Path(args.runs) / f"{name}-s{seed}.ckpt", device, seed=seed)
            loaded = load_dataset(dataset, path, device)
            for scenario_name, size in sizes:
                scenario = make_scenario(dataset, scenario_name, size, seed, *loaded, device)
                print(f"{dataset} {scenario_name} seed {seed}: {scenario.forget}", flush=True)
                cached_reference(scenario, Path(args.cache) / device.type)
                r = scenario.reference
                print(
                    f"  reference: retain {r.retain_test_acc:.4f} mia {r.mia_auc:.3f} "
                    f"named {r.named_as_other:.3f} ({scenario.reference_seconds:.0f} s)",
                    flush=True,
                )
                for method in args.methods.split(","):
                    for options in grids[method]:
                        try:
                            row = run_one(scenario, method, options)
                        except ForgetError as error:  # e.g. a setting that diverges: recorded, not fatal
                            print(f"  {method:13} {json.dumps(options):50} failed: {error}", flush=True)
                            failures.append(
                                {
                                    "dataset": dataset,
                                    "scenario": scenario_name,
                                    "seed": seed,
                                    "method": method,
                                    "options": options,
                                    "error": str(error),
                                }
                            )
                            continue
                        rows.append(row)
                        print("  " + line(row), flush=True)
                out.with_suffix(".json").write_text(json.dumps({"rows": rows, "failures": failures}, indent=1))
                out.with_suffix(".md").write_text(markdown(rows, failures, device, time.perf_counter() - started))
    print(f"wrote {out}.md and {out}.json")


def line(row: dict) -> str:
    """One row as a log line: the numbers the targets judge, and the misses."""
    u = row["unlearned"]
    met = targets_met(row, JUDGED)
    return (
        f"{row['method']:13} {json.dumps(row['options']):50} ft {u['forget_train_acc']:.3f} "
        f"fte {u['forget_test_acc']:.3f} ret {gaps(row)['retain_test_acc']:+.4f} mia {gaps(row)['mia_auc']:+.3f} "
        f"named {u['named_as_other']:.3f} js {u['js_to_reference']:.3f} ratio {row['time_ratio']:.3f} "
        f"({row['seconds']:.1f} s) misses: " + (", ".join(k for k, v in met.items() if not v) or "none")
    )


def markdown(rows: list[dict], failures: list[dict], device, seconds: float) -> str:
    lines = [
        f"# Unlearning defaults sweep ({device.type}; {seconds / 60:.0f} min of unlearning and scoring, "
        "references cached)",
        "",
        "Each row: one method setting, over the tuning scenarios "
        + ", ".join(sorted({f"{r['dataset']} {r['scenario']} seed {r['seed']}" for r in rows}))
        + ".",
        "Gaps are unlearned − reference; `targets` counts scenario×target passes (7 targets each). Time "
        "ratios use references cached from an earlier run and other work shared the CPU, so they are "
        "indicative only: unlearn_bench.py measures them properly.",
        "",
        "| method | options | targets | forget-train gap | forget-test gap | retain-test gap | MIA gap "
        "| MIA-person gap | probe gap | JS | time ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault((row["method"], json.dumps(row["options"], sort_keys=True)), []).append(row)
    for (method, options), group in groups.items():
        met = sum(sum(targets_met(r, JUDGED).values()) for r in group)
        g = {k: mean([gaps(r)[k] for r in group]) for k in GAP_KEYS}
        lines.append(
            f"| {method} | `{options}` | {met}/{7 * len(group)} | {g['forget_train_acc']:+.3f} | "
            f"{g['forget_test_acc']:+.3f} | {g['retain_test_acc']:+.3f} | {g['mia_auc']:+.3f} | "
            f"{g['mia_auc_person']:+.3f} | "
            f"{g['probe_acc']:+.3f} | {g['js_to_reference']:.3f} | "
            f"{mean([r['time_ratio'] for r in group]):.3f} |"
        )
    if failures:
        lines += ["", "Failed runs:", ""] + [
            f"- {f['dataset']} {f['scenario']} s{f['seed']} {f['method']} `{json.dumps(f['options'])}`: {f['error']}"
            for f in failures
        ]
    lines += [
        "",
        "Per scenario:",
        "",
        "| scenario | method | options | unmet targets | time ratio |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        unmet = [k for k, v in targets_met(row, JUDGED).items() if not v]
        lines.append(
            f"| {row['dataset']} {row['scenario']} s{row['seed']} | {row['method']} | "
            f"`{json.dumps(row['options'])}` | {', '.join(unmet) or '—'} | {row['time_ratio']:.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

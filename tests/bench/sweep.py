"""Choose each unlearning method's defaults: a small grid per method on LFW-62 (forget 1 person,
three seeds; forget 5, one seed) and MNIST (forget digit 7), scored against retrained references.

    python tests/bench/sweep.py [--device cpu] [--methods salun,scrub] [--out tests/bench/results/sweep]

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

# The second pass: the settings that survived the first pass (results/sweep-first-pass.log, which
# also tried salun lr_scale 0.2, scrub epochs 3/max 2, neggrad alpha 0.2, ssd alpha 2 and 1).
GRIDS_SECOND = {
    "salun": [{}, {"epochs": 2.0, "min_steps": 4}, {"scope": "all"}],
    "scrub": [{}, {"lr_scale": 0.5}, {"scope": "all"}],
    "neggrad_plus": [{}, {"alpha": 0.5, "lr_scale": 3.0}],
    "ssd": [{}, {"alpha": 1.0, "dampening": 0.1}],
    "finetune": [{}, {"epochs": 0.3}],
}
# The third pass, after SalUn gained cached trunk features, early stopping and soft relabelling,
# and the attack became monotone (see README "Methods"): SalUn variants only.
GRIDS = {
    "salun": [
        {"relabel": "random"},
        {"relabel": "soft", "temperature": 1.0},
        {"relabel": "soft", "temperature": 1.0, "retain_ratio": 0.5},
        {"relabel": "soft", "temperature": 4.0},
        {"relabel": "soft", "temperature": 1.0, "augment": True},
    ]
}
SCENARIOS = [
    ("lfw", "forget-1", 1, 0),
    ("lfw", "forget-1", 1, 1),
    ("lfw", "forget-1", 1, 2),
    ("lfw", "forget-5", 5, 0),
    ("mnist", "forget-7", 1, 0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", default=",".join(GRIDS))
    parser.add_argument("--pass", dest="which", choices=("second", "third"), default="third")
    parser.add_argument("--lfw-model", default=str(ROOT / "runs" / "lfw62-mobilefacenet.ckpt"))
    parser.add_argument("--mnist-model", default=str(ROOT / "runs" / "mnist.ckpt"))
    parser.add_argument("--cache", default=str(ROOT / "runs" / "reference-cache"))
    parser.add_argument("--out", help="output stem (default tests/bench/results/sweep-<pass>)")
    args = parser.parse_args()
    device = device_from(args.device)
    grids = GRIDS if args.which == "third" else GRIDS_SECOND
    models = {
        "lfw": ensure_model("lfw", Path(args.lfw_model), device),
        "mnist": ensure_model("mnist", Path(args.mnist_model), device),
    }
    loaded = {name: load_dataset(name, path) for name, path in models.items()}
    rows, failures, started = [], [], time.perf_counter()
    for dataset, name, size, seed in SCENARIOS:
        scenario = make_scenario(dataset, name, size, seed, *loaded[dataset], device)
        print(f"{dataset} {name} seed {seed}: {scenario.forget}", flush=True)
        cached_reference(scenario, Path(args.cache) / device.type)
        for method in args.methods.split(","):
            for options in grids[method]:
                try:
                    row = run_one(scenario, method, options)
                except ForgetError as error:  # e.g. a setting that diverges: recorded, not fatal
                    print(f"  {method:13} {json.dumps(options):60} failed: {error}", flush=True)
                    failures.append(
                        {
                            "dataset": dataset,
                            "scenario": name,
                            "seed": seed,
                            "method": method,
                            "options": options,
                            "error": str(error),
                        }
                    )
                    continue
                rows.append(row)
                met = targets_met(row)
                print(
                    f"  {method:13} {json.dumps(options):60} {sum(met.values())}/5 "
                    f"ratio {row['time_ratio']:.3f} " + " ".join(k for k, v in met.items() if not v),
                    flush=True,
                )
    out = results_stem(args.out, f"sweep-{args.which}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "failures": failures}, indent=1))
    out.with_suffix(".md").write_text(markdown(rows, failures, device, time.perf_counter() - started))
    print(f"wrote {out}.md and {out}.json")


def markdown(rows: list[dict], failures: list[dict], device, seconds: float) -> str:
    lines = [
        f"# Unlearning defaults sweep ({device.type}; {seconds / 60:.0f} min of unlearning and scoring, "
        "references cached)",
        "",
        "Each row: one method setting, averaged over the scenarios "
        + ", ".join(f"{d} {n} seed {s}" for d, n, _, s in SCENARIOS)
        + ".",
        "Gaps are unlearned − reference; `targets` counts scenario×target passes (5 targets each). Time "
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
        met = sum(sum(targets_met(r).values()) for r in group)
        g = {k: mean([gaps(r)[k] for r in group]) for k in GAP_KEYS}
        lines.append(
            f"| {method} | `{options}` | {met}/{5 * len(group)} | {g['forget_train_acc']:+.3f} | "
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
        unmet = [k for k, v in targets_met(row).items() if not v]
        lines.append(
            f"| {row['dataset']} {row['scenario']} s{row['seed']} | {row['method']} | "
            f"`{json.dumps(row['options'])}` | {', '.join(unmet) or '—'} | {row['time_ratio']:.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

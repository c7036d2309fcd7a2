"""Benchmark every unlearning method against a reference retrained in the same run, same device.

    python tests/bench/unlearn_bench.py [--device cpu|cuda] [--seeds 0,1,2] [--backbone mobilefacenet]

Scenarios: LFW-62 forget 1 and forget 5 random people, MNIST forget digit 7; each with every seed.
Writes tests/bench/results/unlearn-<device>-<backbone>.{md,json}: every metric as a gap to the
reference (unlearned − reference) and time as a ratio to the reference's, means over seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from common import (GAP_KEYS, ROOT, Path, device_from, ensure_model, gaps, load_dataset, make_scenario, mean,
                    prepare_reference, run_one)
from forget_desktop.core.devices import describe_device
from forget_desktop.core.errors import ForgetError
from forget_desktop.core.unlearning import DEFAULT_METHOD, REGISTRY

SCENARIOS = (("lfw", "forget-1", 1), ("lfw", "forget-5", 5), ("mnist", "forget-7", 1))
TARGETS = ("forget_acc<=1%", "retain_test within 1pp", "mia within 0.05", "probe <= ref+5pp", "time <= 1/10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(m for m in REGISTRY if not REGISTRY[m].reference))
    parser.add_argument("--backbone", default="mobilefacenet", help="LFW backbone (facenet-scratch on a GPU)")
    parser.add_argument("--datasets", default="lfw,mnist")
    parser.add_argument("--runs", default=str(ROOT / "runs"), help="where trained originals are kept")
    parser.add_argument("--out", help="output stem (default tests/bench/results/unlearn-<device>-<backbone>)")
    args = parser.parse_args()
    device = device_from(args.device)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    datasets = args.datasets.split(",")
    out = Path(args.out or ROOT / "tests" / "bench" / "results" / f"unlearn-{device.type}-{args.backbone}")
    runs = Path(args.runs)
    started = time.perf_counter()
    rows, references, failures = [], [], []
    for dataset in datasets:
        name = f"lfw62-{args.backbone}.ckpt" if dataset == "lfw" else "mnist.ckpt"
        path = ensure_model(dataset, runs / (name if device.type == "cpu" else f"{device.type}-{name}"), device,
                            args.backbone)
        checkpoint, train, heldout = load_dataset(dataset, path)
        for _, scenario_name, size in (s for s in SCENARIOS if s[0] == dataset):
            for seed in seeds:
                scenario = make_scenario(dataset, scenario_name, size, seed, checkpoint, train, heldout, device)
                print(f"{dataset} {scenario_name} seed {seed}: forget {scenario.forget} "
                      f"({len(scenario.splits.forget_train)} train photos)", flush=True)
                prepare_reference(scenario)
                references.append({"dataset": dataset, "scenario": scenario_name, "seed": seed,
                                   "forget": scenario.forget, "seconds": scenario.reference_seconds,
                                   "reference": _plain(scenario.reference), "original": _plain(scenario.original)})
                for method in methods:
                    try:
                        row = run_one(scenario, method, {})
                    except ForgetError as error:  # e.g. a method that diverges: a row that says so
                        print(f"  {method:13} failed: {error}", flush=True)
                        failures.append({"dataset": dataset, "scenario": scenario_name, "seed": seed,
                                         "method": method, "error": str(error)})
                        continue
                    rows.append(row)
                    print(f"  {method:13} {row['seconds']:6.1f} s ratio {row['time_ratio']:.3f} forget "
                          f"{row['unlearned']['forget_test_acc']:.2f} retain {row['unlearned']['retain_test_acc']:.3f}",
                          flush=True)
    meta = {"device": describe_device(device), "backbone": args.backbone, "seeds": seeds,
            "torch": torch.__version__, "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "minutes": round((time.perf_counter() - started) / 60, 1),
            "default_method": DEFAULT_METHOD}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows, "references": references,
                                                    "failures": failures}, indent=1))
    out.with_suffix(".md").write_text(markdown(rows, references, meta, failures))
    print(f"wrote {out}.md and {out}.json")


def _plain(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("per_identity",)}


def aggregate(rows: list[dict]) -> dict:
    """Means over seeds of the absolute values, the gaps and the time ratio."""
    result = {"n": len(rows), "time_ratio": mean([r["time_ratio"] for r in rows]),
              "seconds": mean([r["seconds"] for r in rows]),
              "reference_seconds": mean([r["reference_seconds"] for r in rows])}
    for key in GAP_KEYS:
        result[f"gap_{key}"] = mean([gaps(r)[key] for r in rows])
        result[key] = mean([r["unlearned"].get(key) for r in rows])
        if key != "js_to_reference":
            result[f"ref_{key}"] = mean([r["reference"].get(key) for r in rows])
    return result


def target_checks(a: dict) -> dict:
    """The issue's targets, on means over seeds."""
    return {"forget_acc<=1%": a["forget_train_acc"] <= 0.01 and a["forget_test_acc"] <= 0.01,
            "retain_test within 1pp": abs(a["gap_retain_test_acc"]) <= 0.01,
            "mia within 0.05": abs(a["gap_mia_auc"]) <= 0.05,
            "probe <= ref+5pp": a["gap_probe_acc"] <= 0.05,
            "time <= 1/10": a["time_ratio"] <= 0.1}


def markdown(rows: list[dict], references: list[dict], meta: dict, failures: list[dict]) -> str:
    lines = [f"# Unlearning benchmark — {meta['device']}, {meta['backbone']}", "",
             f"Seeds {meta['seeds']}; torch {meta['torch']}; {meta['minutes']} min in all. Every number is a mean over "
             "seeds. Gaps are unlearned − reference (retrained from the same starting point on the retain data, "
             "in the same run). MIA is the population attack's AUC for the forgotten people's training photos "
             "against held-out photos; MIA-person uses only their own held-out photos (noisy for one person). "
             "Probe: 1-NN identification of their unseen photos from penultimate features. Relearn: fine-tuning "
             "steps on 5 photos each until half of their unseen photos are named again (50 = not within 50).", ""]
    scenarios = sorted({(r["dataset"], r["scenario"]) for r in rows}, key=lambda s: (s[0] != "lfw", s[1]))
    for dataset, scenario in scenarios:
        group = [r for r in rows if (r["dataset"], r["scenario"]) == (dataset, scenario)]
        refs = [r for r in references if (r["dataset"], r["scenario"]) == (dataset, scenario)]
        ref_mean = {k: mean([r["reference"].get(k) for r in refs]) for k in GAP_KEYS if k != "js_to_reference"}
        orig_mean = {k: mean([r["original"].get(k) for r in refs]) for k in GAP_KEYS}
        lines += [f"## {dataset.upper()} {scenario}", "",
                  f"Reference (absolute): forget-train {ref_mean['forget_train_acc']:.3f}, forget-test "
                  f"{ref_mean['forget_test_acc']:.3f}, retain-test {ref_mean['retain_test_acc']:.4f}, MIA "
                  f"{ref_mean['mia_auc']:.3f}, MIA-person {ref_mean['mia_auc_person']:.3f}, probe "
                  f"{ref_mean['probe_acc']:.3f}, relearn {ref_mean['relearn_steps']:.1f} steps; retraining took "
                  f"{mean([r['seconds'] for r in refs]):.1f} s. Forgotten: "
                  + "; ".join(f"seed {r['seed']}: {', '.join(r['forget'])}" for r in refs) + ".", "",
                  "| model | forget-train | forget-test | retain-test | MIA | MIA-person | probe | relearn | JS | "
                  "seconds | time ratio | targets met |", "|---|---|---|---|---|---|---|---|---|---|---|---|",
                  f"| original (gap) | {orig_mean['forget_train_acc'] - ref_mean['forget_train_acc']:+.3f} | "
                  f"{orig_mean['forget_test_acc'] - ref_mean['forget_test_acc']:+.3f} | "
                  f"{orig_mean['retain_test_acc'] - ref_mean['retain_test_acc']:+.4f} | "
                  f"{orig_mean['mia_auc'] - ref_mean['mia_auc']:+.3f} | "
                  f"{orig_mean['mia_auc_person'] - ref_mean['mia_auc_person']:+.3f} | "
                  f"{orig_mean['probe_acc'] - ref_mean['probe_acc']:+.3f} | "
                  f"{orig_mean['relearn_steps'] - ref_mean['relearn_steps']:+.1f} | {orig_mean['js_to_reference']:.3f} "
                  "| — | — | — |"]
        for method in dict.fromkeys(r["method"] for r in group):
            a = aggregate([r for r in group if r["method"] == method])
            checks = target_checks(a)
            star = " (default)" if method == meta["default_method"] else ""
            lines.append(f"| {method}{star} | {a['gap_forget_train_acc']:+.3f} | {a['gap_forget_test_acc']:+.3f} | "
                         f"{a['gap_retain_test_acc']:+.4f} | {a['gap_mia_auc']:+.3f} | {a['gap_mia_auc_person']:+.3f} | "
                         f"{a['gap_probe_acc']:+.3f} | {a['gap_relearn_steps']:+.1f} | {a['js_to_reference']:.3f} | "
                         f"{a['seconds']:.1f} | {a['time_ratio']:.3f} | {sum(checks.values())}/5"
                         + ("" if all(checks.values()) else " (misses: " + ", ".join(k for k, v in checks.items() if not v)
                            + ")") + " |")
        lines.append("")
    if failures:
        lines += ["## Failed runs", ""] + [f"- {f['dataset']} {f['scenario']} seed {f['seed']}, {f['method']}: "
                                           f"{f['error']}" for f in failures] + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

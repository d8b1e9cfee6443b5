#!/usr/bin/env python3
"""Pick the best model of a sweep by one metric, and report how every candidate scored.

--models and --metrics list the sweep's outputs in the same order: the i-th metrics file
scores the i-th model. Ties go to the earlier sweep point.
"""

import argparse
import json
import shutil


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--metric", required=True, help="name of the metric to compare")
    parser.add_argument("--goal", choices=["maximize", "minimize"], required=True)
    parser.add_argument("--best", required=True, help="where to copy the chosen model")
    parser.add_argument("--report", required=True, help="JSON report to write")
    args = parser.parse_args()

    if len(args.models) != len(args.metrics):
        raise SystemExit(f"{len(args.models)} models but {len(args.metrics)} metrics files")

    candidates = []
    for index, (model, path) in enumerate(zip(args.models, args.metrics)):
        with open(path) as f:
            metrics = json.load(f)
        if args.metric not in metrics:
            raise SystemExit(f"{path}: no metric named {args.metric!r}")
        candidates.append({"index": index, "model": model, "metrics": metrics})

    sign = 1.0 if args.goal == "maximize" else -1.0
    best = max(candidates, key=lambda c: (sign * c["metrics"][args.metric], -c["index"]))
    shutil.copyfile(best["model"], args.best)

    report = {
        "metric": args.metric,
        "goal": args.goal,
        "chosen": best["index"],
        "value": best["metrics"][args.metric],
        "candidates": [{"index": c["index"], "metrics": c["metrics"]} for c in candidates],
    }
    with open(args.report, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

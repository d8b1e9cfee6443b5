#!/usr/bin/env python3
"""Score a candidate model against the registry's models on the test units.

Every model is a LinearJson logistic regression and names the features it uses. The report
lists each model's test scores and says whether the candidate should replace the champion:
it must have a higher test F1, or the same F1 and a lower Brier score.
"""

import argparse
import csv
import json
import math


def probability(model, row):
    z = model["bias"]
    for name, w, m, s in zip(model["features"], model["weights"], model["means"], model["stds"]):
        z += w * (float(row[name]) - m) / s
    z = max(-30.0, min(30.0, z))
    return 1.0 / (1.0 + math.exp(-z))


def test_scores(model, rows):
    tp = fp = fn = 0
    brier = 0.0
    for row in rows:
        y = int(row["ruptures_soon"])
        p = probability(model, row)
        brier += (p - y) ** 2
        tp += p >= 0.5 and y == 1
        fp += p >= 0.5 and y == 0
        fn += p < 0.5 and y == 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "brier": brier / len(rows)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", required=True, help="features table")
    parser.add_argument("--candidate", required=True)
    parser.add_argument("--champion", required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--report", required=True, help="report to write (JSON)")
    parser.add_argument("--metrics", required=True, help="metrics to write (JSON)")
    args = parser.parse_args()

    with open(args.table, newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["split"] == "test"]
    if not rows:
        raise SystemExit("the table has no rows of the test split")

    results = {}
    for role in ("candidate", "champion", "baseline"):
        with open(getattr(args, role)) as f:
            model = json.load(f)
        results[role] = {"features": model["features"], "test": test_scores(model, rows)}

    cand, champ = results["candidate"]["test"], results["champion"]["test"]
    better = cand["f1"] > champ["f1"]
    as_good = cand["f1"] == champ["f1"] and cand["brier"] < champ["brier"]
    promote = better or as_good

    with open(args.report, "w") as f:
        report = {"test_rows": len(rows), "models": results, "promote": promote}
        json.dump(report, f, indent=2, sort_keys=True)
        f.write("\n")

    metrics = {"promote": int(promote), "test_rows": len(rows)}
    for role, result in results.items():
        for name, value in result["test"].items():
            metrics[f"{role}_test_{name}"] = value
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

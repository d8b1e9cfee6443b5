#!/usr/bin/env python3
"""Train a logistic-regression rupture classifier on the training units of a features table.

Plain Python, gradient descent on standardised features. The model is written as JSON
(the experiment's `LinearJson` format): feature names, standardisation, weights and bias.
The metrics are the model's scores on the validation units.
"""

import argparse
import csv
import json
import math
import random

FEATURES = [
    "strain_mean",
    "strain_slope",
    "strain_max",
    "accel_mean",
    "accel_std",
    "accel_rise",
    "temp_mean",
]


def probability(model, x):
    z = model["bias"]
    for w, v, m, s in zip(model["weights"], x, model["means"], model["stds"]):
        z += w * (v - m) / s
    z = max(-30.0, min(30.0, z))
    return 1.0 / (1.0 + math.exp(-z))


def scores(model, rows, prefix):
    tp = fp = fn = tn = 0
    brier = 0.0
    for x, y in rows:
        p = probability(model, x)
        brier += (p - y) ** 2
        hit = p >= 0.5
        tp += hit and y == 1
        fp += hit and y == 0
        fn += (not hit) and y == 1
        tn += (not hit) and y == 0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        f"{prefix}_f1": f1,
        f"{prefix}_precision": precision,
        f"{prefix}_recall": recall,
        f"{prefix}_brier": brier / len(rows),
        f"{prefix}_rows": len(rows),
    }


def load(path, split, names):
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] == split:
                rows.append(([float(row[name]) for name in names], int(row["ruptures_soon"])))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", required=True, help="features table")
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--l2", type=float, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--use", default=",".join(FEATURES), help="comma-separated features to use")
    parser.add_argument("--out", required=True, help="model to write (JSON)")
    parser.add_argument("--metrics", required=True, help="metrics to write (JSON)")
    args = parser.parse_args()

    names = args.use.split(",")
    unknown = sorted(set(names) - set(FEATURES))
    if unknown:
        raise SystemExit(f"unknown features: {', '.join(unknown)}")
    train, val = load(args.table, "train", names), load(args.table, "val", names)
    if not train or not val:
        raise SystemExit("the table needs rows of both the train and the val split")

    means = [sum(x[j] for x, _ in train) / len(train) for j in range(len(names))]
    stds = [
        math.sqrt(sum((x[j] - means[j]) ** 2 for x, _ in train) / len(train)) or 1.0
        for j in range(len(names))
    ]
    model = {
        "format": "linear-json/1",
        "kind": "logistic",
        "features": names,
        "means": means,
        "stds": stds,
        "weights": [0.0] * len(names),
        "bias": 0.0,
        "trained_with": {"lr": args.lr, "l2": args.l2, "epochs": args.epochs, "seed": args.seed},
    }

    rng = random.Random(args.seed)
    order = list(range(len(train)))
    loss = 0.0
    for _ in range(args.epochs):
        rng.shuffle(order)
        loss = 0.0
        for i in order:
            x, y = train[i]
            p = probability(model, x)
            loss -= y * math.log(max(p, 1e-12)) + (1 - y) * math.log(max(1 - p, 1e-12))
            g = p - y
            for j, (v, m, s) in enumerate(zip(x, means, stds)):
                model["weights"][j] -= args.lr * (g * (v - m) / s + args.l2 * model["weights"][j])
            model["bias"] -= args.lr * g

    with open(args.out, "w") as f:
        json.dump(model, f, indent=2)
        f.write("\n")

    metrics = {"train_loss": loss / len(train)}
    metrics.update(scores(model, val, "val"))
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

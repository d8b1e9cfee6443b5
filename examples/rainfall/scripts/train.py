#!/usr/bin/env python3
"""Train a logistic-regression nowcaster: will the next hour's rain be extreme?

A stand-in for the real network, small enough to run anywhere: plain Python, gradient
descent on standardised features. Stations are split into training and validation sets by
a fixed hash of their name, so every sweep point is scored on the same stations. Writes the
model as a pickled dict and the validation scores as a metrics JSON object.
"""

import argparse
import csv
import glob
import json
import math
import os
import pickle
import random
import zlib

FEATURES = ["hour", "mm", "mm_lag1", "mm_lag2", "mm_sum3h", "pressure_tendency", "humidity_pct"]


def read_rows(path):
    """Rows of a CSV table that is one file or a directory of part files (as Spark writes)."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "part-*.csv")))
        if not files:
            raise SystemExit(f"{path}: no part-*.csv files in this directory")
    else:
        files = [path]
    rows = []
    for name in files:
        with open(name, newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def is_validation(station):
    return zlib.crc32(station.encode()) % 10 >= 8


def sigmoid(z):
    if z < -30:
        return 0.0
    if z > 30:
        return 1.0
    return 1.0 / (1.0 + math.exp(-z))


def standardise(rows):
    means, stds = [], []
    for j in range(len(FEATURES)):
        column = [r[0][j] for r in rows]
        mean = sum(column) / len(column)
        var = sum((v - mean) ** 2 for v in column) / len(column)
        means.append(mean)
        stds.append(math.sqrt(var) or 1.0)
    return means, stds


def scores(model, rows):
    tp = fp = fn = tn = 0
    brier = 0.0
    for x, y in rows:
        p = predict(model, x)
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
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "accuracy": (tp + tn) / len(rows),
        "brier": brier / len(rows),
        "positives": tp + fn,
        "rows": len(rows),
    }


def predict(model, x):
    z = model["bias"]
    for w, v, m, s in zip(model["weights"], x, model["means"], model["stds"]):
        z += w * (v - m) / s
    return sigmoid(z)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", required=True, help="features table (file or directory)")
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--l2", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--out", required=True, help="model file to write (pickle)")
    parser.add_argument("--metrics", required=True, help="metrics file to write (JSON)")
    args = parser.parse_args()

    train, val = [], []
    for row in read_rows(args.features):
        x = [float(row[name]) for name in FEATURES]
        y = int(row["extreme"])
        (val if is_validation(row["station"]) else train).append((x, y))
    if not train or not val:
        raise SystemExit("need rows for both training and validation stations")

    means, stds = standardise(train)
    model = {
        "features": FEATURES,
        "means": means,
        "stds": stds,
        "weights": [0.0] * len(FEATURES),
        "bias": 0.0,
    }
    # Extreme hours are rare: weigh them so that they are not drowned out.
    positives = sum(y for _, y in train)
    pos_weight = (len(train) - positives) / positives if positives else 1.0

    rng = random.Random(args.seed)
    order = list(range(len(train)))
    loss = 0.0
    for _ in range(args.epochs):
        rng.shuffle(order)
        loss = 0.0
        for i in order:
            x, y = train[i]
            p = predict(model, x)
            weight = pos_weight if y == 1 else 1.0
            loss -= weight * (y * math.log(max(p, 1e-12)) + (1 - y) * math.log(max(1 - p, 1e-12)))
            g = weight * (p - y)
            for j, (v, m, s) in enumerate(zip(x, means, stds)):
                model["weights"][j] -= args.lr * (g * (v - m) / s + args.l2 * model["weights"][j])
            model["bias"] -= args.lr * g

    with open(args.out, "wb") as f:
        pickle.dump(model, f, protocol=4)

    metrics = {
        "train_loss": loss / len(train),
        "lr": args.lr,
        "l2": args.l2,
        "seed": args.seed,
        "epochs": args.epochs,
    }
    metrics.update({f"val_{k}": v for k, v in scores(model, val).items()})
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

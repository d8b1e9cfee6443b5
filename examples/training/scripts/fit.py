#!/usr/bin/env python3
"""Fit y = a x + b by gradient descent with the given settings and write the final loss."""

import argparse
import csv
import json


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", required=True, help="the settings: a JSON object")
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    lr, epochs = config["lr"], config["epochs"]
    momentum = config["optim"]["momentum"]

    with open(args.data, newline="") as f:
        rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(f)]
    a = b = va = vb = 0.0
    for _ in range(epochs * 10):
        ga = sum(2 * (a * x + b - y) * x for x, y in rows) / len(rows)
        gb = sum(2 * (a * x + b - y) for x, y in rows) / len(rows)
        va = momentum * va - lr * ga
        vb = momentum * vb - lr * gb
        a, b = a + va, b + vb
    loss = sum((a * x + b - y) ** 2 for x, y in rows) / len(rows)
    with open(args.metrics, "w") as f:
        json.dump({"loss": loss, "a": a, "b": b, "hidden_layers": len(config["layers"])}, f)


if __name__ == "__main__":
    main()

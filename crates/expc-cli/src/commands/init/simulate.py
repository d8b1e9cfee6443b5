#!/usr/bin/env python3
"""Simulate a noisy measurement N times at one point of the sweep and write its metrics."""

import argparse
import json
import random


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--samples", type=int, required=True)
    parser.add_argument("--out", required=True, help="CSV file of the samples")
    parser.add_argument("--metrics", required=True, help="JSON file of the metrics")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    values = [rng.gauss(args.rate, 1.0) for _ in range(args.samples)]
    with open(args.out, "w") as f:
        f.write("i,value\n")
        for i, v in enumerate(values):
            f.write(f"{i},{v:.6f}\n")
    mean = sum(values) / len(values)
    with open(args.metrics, "w") as f:
        json.dump({"mean": mean, "error": abs(mean - args.rate)}, f)


if __name__ == "__main__":
    main()

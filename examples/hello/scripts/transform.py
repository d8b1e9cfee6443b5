#!/usr/bin/env python3
"""Compute y = x * scale + shift for every row, and report the mean and spread of y."""

import argparse
import csv
import json
import statistics


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", required=True, help="CSV table with columns i, x")
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--shift", type=float, required=True)
    parser.add_argument("--out", required=True, help="CSV table to write (columns i, x, y)")
    parser.add_argument("--metrics", required=True, help="JSON metrics file to write")
    args = parser.parse_args()

    ys = []
    with open(args.numbers, newline="") as src, open(args.out, "w", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["i", "x", "y"])
        for row in csv.DictReader(src):
            y = float(row["x"]) * args.scale + args.shift
            ys.append(y)
            writer.writerow([row["i"], row["x"], f"{y:.6f}"])

    metrics = {
        "scale": args.scale,
        "shift": args.shift,
        "rows": len(ys),
        "mean": statistics.fmean(ys),
        "std": statistics.pstdev(ys),
        "min": min(ys),
        "max": max(ys),
    }
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

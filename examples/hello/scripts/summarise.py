#!/usr/bin/env python3
"""Gather the metrics of every sweep point into one CSV table and a short text report."""

import argparse
import csv
import json


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, help="CSV table to write")
    parser.add_argument("--report", required=True, help="text report to write")
    parser.add_argument("--metrics", nargs="+", required=True, help="metrics files, one per point")
    args = parser.parse_args()

    rows = []
    for path in args.metrics:
        with open(path) as f:
            rows.append(json.load(f))
    rows.sort(key=lambda m: (m["scale"], m["shift"]))

    columns = ["scale", "shift", "rows", "mean", "std", "min", "max"]
    with open(args.summary, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for m in rows:
            writer.writerow([m[c] for c in columns])

    with open(args.report, "w") as f:
        f.write(f"{len(rows)} sweep points\n")
        for m in rows:
            f.write(
                f"scale={m['scale']:g} shift={m['shift']:g}: "
                f"mean={m['mean']:.3f} std={m['std']:.3f}\n"
            )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Average the replicas of every (amplitude, frequency) point of the study.

Reads the table of all runs and writes one row per point: how many replicas ran, the mean
Lyapunov exponent, the share of replicas that were chaotic (exponent above 0.01), and the
mean number of full rotations. The result is the study's map of where the pendulum is
chaotic.
"""

import argparse
import csv
import statistics


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", required=True, help="table of all runs")
    parser.add_argument("--out", required=True, help="CSV table to write")
    args = parser.parse_args()

    points = {}
    with open(args.runs, newline="") as f:
        for row in csv.DictReader(f):
            key = (float(row["amplitude"]), float(row["frequency"]))
            points.setdefault(key, []).append(row)

    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        header = ["amplitude", "frequency", "replicas", "lyapunov_mean", "chaotic_share"]
        writer.writerow(header + ["rotations_mean"])
        for (amplitude, frequency), rows in sorted(points.items()):
            lyapunov = [float(r["lyapunov"]) for r in rows]
            writer.writerow(
                [
                    amplitude,
                    frequency,
                    len(rows),
                    f"{statistics.fmean(lyapunov):.5f}",
                    f"{sum(v > 0.01 for v in lyapunov) / len(rows):.3f}",
                    f"{statistics.fmean(abs(float(r['rotations'])) for r in rows):.3f}",
                ]
            )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Draw COUNT numbers from a standard normal distribution and write them as a CSV table."""

import argparse
import csv
import random


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="CSV file to write (columns i, x)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["i", "x"])
        for i in range(args.count):
            writer.writerow([i, f"{rng.gauss(0.0, 1.0):.6f}"])


if __name__ == "__main__":
    main()

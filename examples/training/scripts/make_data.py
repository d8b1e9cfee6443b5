#!/usr/bin/env python3
"""Draw SAMPLES points of y = 3x + 1 with a little noise and write them as a CSV table."""

import argparse
import csv
import random


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, required=True)
    parser.add_argument("--out", required=True, help="CSV file to write (columns x, y)")
    args = parser.parse_args()

    rng = random.Random(7)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "y"])
        for _ in range(args.samples):
            x = rng.uniform(-1.0, 1.0)
            writer.writerow([f"{x:.6f}", f"{3.0 * x + 1.0 + rng.gauss(0.0, 0.1):.6f}"])


if __name__ == "__main__":
    main()

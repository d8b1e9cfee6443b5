#!/usr/bin/env python3
"""Gather the metrics of every sweep point into one CSV table, in sweep order."""

import argparse
import json


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", nargs="+", required=True)
    args = parser.parse_args()

    with open(args.out, "w") as f:
        f.write("point,mean,error\n")
        for i, path in enumerate(args.metrics):
            with open(path) as m:
                values = json.load(m)
            f.write(f"{i},{values['mean']:.6f},{values['error']:.6f}\n")


if __name__ == "__main__":
    main()

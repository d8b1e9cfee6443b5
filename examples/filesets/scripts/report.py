"""Puts the counts of every file in one table: one row per file, in the set's order."""

import argparse
import json

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--reads", nargs="+", required=True)
parser.add_argument("--metrics", nargs="+", required=True)
args = parser.parse_args()

with open(args.out, "w", encoding="utf-8") as out:
    out.write("file,reads,bases,gc\n")
    for path, metrics in zip(args.reads, args.metrics):
        with open(metrics, encoding="utf-8") as f:
            m = json.load(f)
        name = path.rsplit("/", 1)[-1]
        out.write(f"{name},{m['reads']},{m['bases']},{m['gc']:.3f}\n")

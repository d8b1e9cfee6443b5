"""Counts the read pairs of one sample: both files must hold the same reads, in order."""

import argparse
import json
from concurrent.futures import ThreadPoolExecutor

parser = argparse.ArgumentParser()
parser.add_argument("--sample", required=True)
parser.add_argument("--fq1", required=True)
parser.add_argument("--fq2", required=True)
parser.add_argument("--metrics", required=True)
parser.add_argument("--threads", type=int, default=1)
args = parser.parse_args()


def reads(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    return [(lines[i], lines[i + 1].strip()) for i in range(0, len(lines) - 3, 4)]


with ThreadPoolExecutor(max_workers=max(1, args.threads)) as pool:
    first, second = pool.map(reads, [args.fq1, args.fq2])
if len(first) != len(second):
    raise SystemExit(
        f"{args.sample}: {args.fq1} has {len(first)} reads and {args.fq2} {len(second)}"
    )
bases = sum(len(s) for _, s in first + second)
gc = sum(1 for _, s in first + second for c in s if c in "GC")
with open(args.metrics, "w", encoding="utf-8") as out:
    json.dump({"pairs": len(first), "bases": bases, "gc": gc / bases if bases else 0.0}, out)

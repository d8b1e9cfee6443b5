"""Counts the reads and bases of one FASTQ file and writes them as JSON metrics."""

import argparse
import json

parser = argparse.ArgumentParser()
parser.add_argument("--reads", required=True)
parser.add_argument("--metrics", required=True)
args = parser.parse_args()

reads = bases = gc = 0
with open(args.reads, encoding="utf-8") as f:
    lines = f.read().splitlines()
for i in range(1, len(lines), 4):
    seq = lines[i].strip()
    reads += 1
    bases += len(seq)
    gc += sum(1 for c in seq if c in "GC")

with open(args.metrics, "w", encoding="utf-8") as out:
    json.dump(
        {
            "reads": reads,
            "bases": bases,
            "gc": gc / bases if bases else 0.0,
        },
        out,
    )

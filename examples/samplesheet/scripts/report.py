"""One row per sample of the sheet, with the counts of its pairs: the metrics come in the
sheet's order, one file per row."""

import argparse
import csv
import json

parser = argparse.ArgumentParser()
parser.add_argument("--units", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--metrics", nargs="+", required=True)
args = parser.parse_args()

with open(args.units, encoding="utf-8") as f:
    units = list(csv.DictReader(f, delimiter="\t"))
if len(units) != len(args.metrics):
    raise SystemExit(f"{len(units)} rows and {len(args.metrics)} metrics files")
counts = []
for path in args.metrics:
    with open(path, encoding="utf-8") as f:
        counts.append(json.load(f))
with open(args.out, "w", newline="", encoding="utf-8") as out:
    w = csv.writer(out)
    w.writerow(["sample", "condition", "pairs", "bases", "gc"])
    for u, m in zip(units, counts):
        w.writerow([u["sample"], u["condition"], m["pairs"], m["bases"], f"{m['gc']:.3f}"])

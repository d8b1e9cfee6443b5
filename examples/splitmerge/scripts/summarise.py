"""Summarises one chunk of the split table: its rows, and the sum and extremes of `value`."""
import argparse
import csv
import json
import os

p = argparse.ArgumentParser()
p.add_argument("--chunks", required=True)
p.add_argument("--index", type=int, required=True)
p.add_argument("--metrics", required=True)
a = p.parse_args()

with open(os.path.join(a.chunks, f"chunk-{a.index}.csv"), newline="") as f:
    values = [float(r["value"]) for r in csv.DictReader(f)]
with open(a.metrics, "w") as f:
    json.dump(
        {"rows": len(values), "sum": sum(values), "min": min(values), "max": max(values)},
        f,
        sort_keys=True,
    )

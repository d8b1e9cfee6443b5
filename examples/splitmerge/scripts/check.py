"""Checks that the merged summary counts every row of the table: a slow, thorough check."""
import argparse
import csv
import json
import sys

p = argparse.ArgumentParser()
p.add_argument("--table", required=True)
p.add_argument("--merged", required=True)
p.add_argument("--report", required=True)
a = p.parse_args()

with open(a.table, newline="") as f:
    rows = sum(1 for _ in csv.DictReader(f))
with open(a.merged) as f:
    merged = json.load(f)
ok = merged["rows"] == rows
with open(a.report, "w") as f:
    f.write(f"table rows: {rows}\nmerged rows: {merged['rows']}\n{'ok' if ok else 'MISMATCH'}\n")
sys.exit(0 if ok else 1)

"""Splits a CSV table into N chunks of whole rows, each with the header: chunk-0.csv, …"""
import argparse
import csv
import os

p = argparse.ArgumentParser()
p.add_argument("--table", required=True)
p.add_argument("--chunks", type=int, required=True)
p.add_argument("--out", required=True)
a = p.parse_args()

with open(a.table, newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
os.makedirs(a.out, exist_ok=True)
for i in range(a.chunks):
    with open(os.path.join(a.out, f"chunk-{i}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(body[i :: a.chunks])

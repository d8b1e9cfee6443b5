#!/usr/bin/env python3
"""Gather the metadata and metrics of many runs into one CSV table, one row per run.

--meta and --metrics list the runs' files in the same order. Every metadata file is a JSON
object with "params", "code", "environment" and "outputs"; every metrics file is a JSON
object of numbers. The table's columns are: run (the position in the lists), each
parameter, the code's version and digest, the environment modules (joined with ";"), the
output files (joined with ";"), then each metric. Columns are sorted by name within each
group, so the same runs always give the same table.
"""

import argparse
import csv
import json


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="CSV table to write")
    parser.add_argument("--meta", nargs="+", required=True, help="metadata files, one per run")
    parser.add_argument("--metrics", nargs="+", required=True, help="metrics files, one per run")
    args = parser.parse_args()
    if len(args.meta) != len(args.metrics):
        raise SystemExit(f"{len(args.meta)} metadata files but {len(args.metrics)} metrics files")

    runs = []
    for meta_path, metrics_path in zip(args.meta, args.metrics):
        with open(meta_path) as f:
            meta = json.load(f)
        with open(metrics_path) as f:
            metrics = json.load(f)
        runs.append((meta, metrics))

    params = sorted({name for meta, _ in runs for name in meta["params"]})
    metrics = sorted({name for _, m in runs for name in m})
    header = ["run"] + params + ["code_version", "code_sha256", "modules", "outputs"] + metrics

    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for index, (meta, values) in enumerate(runs):
            row = [index]
            row += [meta["params"].get(name, "") for name in params]
            row += [
                meta["code"]["version"],
                meta["code"]["sha256"],
                ";".join(meta["environment"]["modules"]),
                ";".join(sorted(meta["outputs"])),
            ]
            row += [values.get(name, "") for name in metrics]
            writer.writerow(row)


if __name__ == "__main__":
    main()

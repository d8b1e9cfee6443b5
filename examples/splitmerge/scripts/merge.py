"""Merges the summaries of every chunk into one: rows, mean, min and max of `value`."""
import argparse
import json

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--metrics", nargs="+", required=True)
a = p.parse_args()

parts = []
for path in a.metrics:
    with open(path) as f:
        parts.append(json.load(f))
rows = sum(m["rows"] for m in parts)
with open(a.out, "w") as f:
    json.dump(
        {
            "chunks": len(parts),
            "rows": rows,
            "mean": sum(m["sum"] for m in parts) / rows,
            "min": min(m["min"] for m in parts),
            "max": max(m["max"] for m in parts),
        },
        f,
        sort_keys=True,
    )

#!/usr/bin/env python3
"""Write a signed nowcast bulletin: the chance of extreme rain in the next hour, per station.

The bulletin covers the latest hour of the features table. It is signed with HMAC-SHA256
under the key in the RAIN_ALERT_KEY environment variable, so that the city's alert service
can check where it came from; the key itself is never written anywhere.
"""

import argparse
import csv
import glob
import hashlib
import hmac
import json
import math
import os
import pickle


def read_rows(path):
    """Rows of a CSV table that is one file or a directory of part files (as Spark writes)."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "part-*.csv")))
        if not files:
            raise SystemExit(f"{path}: no part-*.csv files in this directory")
    else:
        files = [path]
    rows = []
    for name in files:
        with open(name, newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def probability(model, row):
    z = model["bias"]
    for name, w, m, s in zip(model["features"], model["weights"], model["means"], model["stds"]):
        z += w * (float(row[name]) - m) / s
    z = max(-30.0, min(30.0, z))
    return 1.0 / (1.0 + math.exp(-z))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="pickled model from train.py")
    parser.add_argument("--features", required=True, help="features table (file or directory)")
    parser.add_argument(
        "--alert-at", type=float, required=True, help="probability that raises an alert"
    )
    parser.add_argument("--out", required=True, help="bulletin to write (JSON)")
    args = parser.parse_args()

    key = os.environ.get("RAIN_ALERT_KEY")
    if not key:
        raise SystemExit("RAIN_ALERT_KEY is not set")

    # The model was written by this experiment's own train.py: a plain dict.
    with open(args.model, "rb") as f:
        model = pickle.load(f)

    rows = read_rows(args.features)
    latest = max(row["time"] for row in rows)
    stations = []
    for row in sorted(rows, key=lambda r: r["station"]):
        if row["time"] != latest:
            continue
        p = probability(model, row)
        stations.append(
            {"station": row["station"], "probability": round(p, 4), "alert": p >= args.alert_at}
        )

    payload = {"time": latest, "horizon": "1h", "stations": stations}
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    signature = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    with open(args.out, "w") as f:
        json.dump({"bulletin": payload, "hmac_sha256": signature}, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

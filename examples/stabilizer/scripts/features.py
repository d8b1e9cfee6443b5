#!/usr/bin/env python3
"""Cut each stabilizer's readings into windows and describe every window with a few numbers.

A window is WINDOW hours of readings; one starts every STEP hours. Its label says whether
the stabilizer ruptured within HORIZON hours after the window's end. Stabilizers are split
by number into training, validation and test units, so that no unit appears in two splits.
"""

import argparse
import csv
import statistics

FEATURES = [
    "strain_mean",
    "strain_slope",
    "strain_max",
    "accel_mean",
    "accel_std",
    "accel_rise",
    "temp_mean",
]


def split_of(unit):
    n = int(unit.lstrip("S"))
    if n % 6 == 0:
        return "test"
    if n % 6 == 3:
        return "val"
    return "train"


def slope(values):
    n = len(values)
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def describe(readings):
    strain = [r[0] for r in readings]
    accel = [r[1] for r in readings]
    temp = [r[2] for r in readings]
    third = max(1, len(accel) // 3)
    return [
        statistics.fmean(strain),
        slope(strain),
        max(strain),
        statistics.fmean(accel),
        statistics.pstdev(accel),
        statistics.fmean(accel[-third:]) - statistics.fmean(accel[:third]),
        statistics.fmean(temp),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sensors", required=True)
    parser.add_argument("--ruptures", required=True)
    parser.add_argument("--window", type=int, required=True, help="hours per window")
    parser.add_argument("--horizon", type=int, required=True, help="hours ahead a rupture counts")
    parser.add_argument("--step", type=int, default=3, help="hours between window starts")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    series = {}
    with open(args.sensors, newline="") as f:
        for row in csv.DictReader(f):
            reading = (float(row["strain_ue"]), float(row["accel_rms_g"]), float(row["temp_c"]))
            series.setdefault(row["unit"], []).append((int(row["hour"]), reading))

    rupture_hour = {}
    with open(args.ruptures, newline="") as f:
        for row in csv.DictReader(f):
            if row["ruptured"] == "1":
                rupture_hour[row["unit"]] = int(row["rupture_hour"])

    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["unit", "split", "end_hour"] + FEATURES + ["ruptures_soon"])
        for unit in sorted(series):
            readings = [r for _, r in sorted(series[unit])]
            for end in range(args.window, len(readings) + 1, args.step):
                values = describe(readings[end - args.window : end])
                hour = rupture_hour.get(unit)
                soon = int(hour is not None and end <= hour < end + args.horizon)
                writer.writerow([unit, split_of(unit), end] + [f"{v:.6g}" for v in values] + [soon])


if __name__ == "__main__":
    main()

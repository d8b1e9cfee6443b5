#!/usr/bin/env python3
"""Write data/stations.csv: made-up hourly readings of ten rain gauges during one storm.

The readings are synthetic. A storm cell crosses the city from west to east in the
afternoon; each gauge sees its peak when the cell passes, with pressure falling and
humidity rising before the rain. Run it from the example's folder to rebuild the file:

    python3 data/make_stations.py > data/stations.csv
"""

import csv
import math
import random
import sys

# (station id, hour of the storm's peak at that gauge or None, peak rain in mm/h)
STATIONS = [
    ("vidigal", 10, 31.0),
    ("rocinha", 11, 44.0),
    ("tijuca", 12, 38.0),
    ("grajau", 12, 27.0),
    ("santa_teresa", 13, 22.0),
    ("madureira", 13, 12.0),
    ("urca", 14, 18.0),
    ("copacabana", 14, 9.0),
    ("penha", 15, 6.0),
    ("ilha_do_governador", None, 0.0),
]
HOURS = 20


def main():
    rng = random.Random(2024)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["station", "time", "mm", "pressure_hpa", "humidity_pct"])
    for station, peak_hour, peak_mm in STATIONS:
        for hour in range(HOURS):
            if peak_hour is None:
                storm = 0.0
            else:
                storm = math.exp(-((hour - peak_hour) ** 2) / 1.5)
            mm = peak_mm * storm + max(0.0, rng.gauss(0.0, 0.4))
            if mm < 0.2:
                mm = 0.0
            # Pressure falls ahead of the cell, humidity rises.
            ahead = 0.0 if peak_hour is None else math.exp(-((hour - peak_hour + 2) ** 2) / 6.0)
            pressure = 1012.5 - 5.5 * ahead + rng.gauss(0.0, 0.3)
            humidity = min(100.0, 72.0 + 24.0 * ahead + rng.gauss(0.0, 1.5))
            time = f"2024-02-13T{hour:02d}:00:00Z"
            writer.writerow([station, time, f"{mm:.1f}", f"{pressure:.1f}", f"{humidity:.0f}"])


if __name__ == "__main__":
    main()

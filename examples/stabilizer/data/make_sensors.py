#!/usr/bin/env python3
"""Write data/sensors.csv and data/ruptures.csv: made-up readings of 24 stabilizers.

The readings are synthetic. Each stabilizer of an offshore platform carries a strain gauge,
an accelerometer and a thermometer read once an hour for three days. Some stabilizers
rupture: for the day before, their strain creeps up and their vibration grows, and their
readings stop at the rupture. Run it from the example's folder to rebuild both files:

    python3 data/make_sensors.py data/sensors.csv data/ruptures.csv
"""

import csv
import math
import random
import sys

UNITS = 24
HOURS = 72
# unit number -> hour of rupture
RUPTURES = {2: 66, 3: 58, 5: 70, 6: 61, 8: 55, 9: 68, 12: 64, 14: 71, 15: 60, 20: 57, 22: 69}


def main(sensors_path, ruptures_path):
    rng = random.Random(7)
    with open(sensors_path, "w", newline="") as s, open(ruptures_path, "w", newline="") as r:
        sensors = csv.writer(s, lineterminator="\n")
        ruptures = csv.writer(r, lineterminator="\n")
        sensors.writerow(["unit", "hour", "strain_ue", "accel_rms_g", "temp_c"])
        ruptures.writerow(["unit", "ruptured", "rupture_hour"])
        for n in range(1, UNITS + 1):
            unit = f"S{n:02d}"
            rupture = RUPTURES.get(n)
            base = rng.uniform(380.0, 460.0)
            end = rupture if rupture is not None else HOURS
            for hour in range(end):
                # Waves and tide: a 12.4 h cycle in strain and vibration.
                tide = math.sin(2 * math.pi * hour / 12.4)
                wear = 0.0
                if rupture is not None:
                    wear = max(0.0, 1.0 - (rupture - hour) / 24.0) ** 2
                strain = base + 25.0 * tide + 160.0 * wear + rng.gauss(0.0, 8.0)
                accel = 0.05 + 0.01 * abs(tide) + 0.06 * wear + abs(rng.gauss(0.0, 0.008))
                temp = 21.0 + 1.5 * math.sin(2 * math.pi * (hour - 9) / 24.0) + rng.gauss(0.0, 0.3)
                sensors.writerow([unit, hour, f"{strain:.1f}", f"{accel:.4f}", f"{temp:.1f}"])
            ruptures.writerow([unit, int(rupture is not None), "" if rupture is None else rupture])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Writes its point to OUT, except for point 2, which it refuses (exit 1)."""
import sys

point, out = int(sys.argv[1]), sys.argv[2]
if point == 2:
    sys.stderr.write(f"refusing point {point}: it is the one that fails\n")
    sys.exit(1)
with open(out, "w") as f:
    f.write(f"point {point}\n")

"""Writes the argv it received, as JSON, to the file its first argument names, and makes a
small file at the path after each `--make`: the tests compare what a task received with
what `expc run` recorded that it ran."""

import json
import os
import sys

with open(sys.argv[1], "w") as f:
    json.dump(sys.argv, f)
for i, word in enumerate(sys.argv):
    if word == "--make" and i + 1 < len(sys.argv):
        path = sys.argv[i + 1]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.write("made by " + os.path.basename(sys.argv[1]) + "\n")

"""Averages the weights of several models into one: a small ensemble."""
import json
import sys

out_path, *model_paths = sys.argv[1:]
weights = []
for p in model_paths:
    with open(p) as f:
        weights.append(json.load(f)["w"])
with open(out_path, "w") as f:
    json.dump({"w": round(sum(weights) / len(weights), 6), "members": len(weights)}, f)

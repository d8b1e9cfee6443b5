"""Scores a one-weight model: its distance to the best weight, 0.5."""
import json
import sys

model, points, scores = sys.argv[1:4]
with open(model) as f:
    w = json.load(f)["w"]
with open(scores, "w") as f:
    json.dump({"val_mse": round(abs(w - 0.5), 4)}, f)

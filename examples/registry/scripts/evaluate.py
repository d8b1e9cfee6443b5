"""Scores a model on the held-out points: their mean squared error, as `val_mse`."""
import json
import sys

model_path, points_path, scores_path = sys.argv[1:4]
with open(model_path) as f:
    w = json.load(f)["w"]
with open(points_path) as f:
    points = json.load(f)["holdout"]
mse = sum((w * x - y) ** 2 for x, y in points) / len(points)
with open(scores_path, "w") as f:
    json.dump({"val_mse": round(mse, 6)}, f)

"""Trains a one-weight model: the weight is the learning rate times a scale."""
import json
import sys

lr, scale, out, metrics = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(out, "w") as f:
    json.dump({"w": lr * scale}, f)
with open(metrics, "w") as f:
    json.dump({"train_mse": round(1.0 / (1 + lr * scale), 4)}, f)

"""Fits y = w * x to the training points by gradient descent with learning rate `lr`.

Writes the model (its weight, as JSON) and its training error (a Metrics JSON).
"""
import json
import sys

points_path, lr, epochs, model_path, metrics_path = sys.argv[1:6]
lr, epochs = float(lr), int(epochs)
with open(points_path) as f:
    points = json.load(f)["train"]
w = 0.0
for _ in range(epochs):
    grad = sum(2 * (w * x - y) * x for x, y in points) / len(points)
    w -= lr * grad
mse = sum((w * x - y) ** 2 for x, y in points) / len(points)
with open(model_path, "w") as f:
    json.dump({"w": round(w, 6)}, f)
with open(metrics_path, "w") as f:
    json.dump({"train_mse": round(mse, 6)}, f)

"""A stand-in for training and evaluating a model: `train OUT METRICS SIZE...` writes a
"model" made of its sizes and a metric; `evaluate MODEL METRICS` writes a metric of it."""

import json
import sys

if sys.argv[1] == "train":
    model, metrics = sys.argv[2], sys.argv[3]
    sizes = [int(s) for s in sys.argv[4:]]
    with open(model, "w") as f:
        json.dump({"sizes": sizes}, f)
    with open(metrics, "w") as f:
        json.dump({"train_loss": 1.0 / (1 + sum(sizes))}, f)
elif sys.argv[1] == "evaluate":
    with open(sys.argv[2]) as f:
        sizes = json.load(f)["sizes"]
    with open(sys.argv[3], "w") as f:
        json.dump({"val_mse": 10.0 / (1 + sum(sizes))}, f)

"""The task program of expc's provenance tests.

    train.py train ROWS LR FACTOR PAUSE MODEL METRICS   writes a model and its metrics
    train.py pick BEST MODEL...                         copies the model with the lowest loss
    train.py report BEST REPORT                         writes a report; prints $TOKEN
"""

import json
import os
import sys
import time

mode = sys.argv[1]
if mode == "train":
    rows, lr, factor, pause, model, metrics = sys.argv[2:8]
    n = sum(1 for _ in open(rows))
    rate = float(lr) * float(factor)
    time.sleep(float(pause))
    loss = abs(rate - 0.001) * 1000 + 1.0 / n
    json.dump({"rate": rate, "rows": n}, open(model, "w"))
    json.dump({"val_loss": loss, "rate": rate}, open(metrics, "w"))
elif mode == "pick":
    best, models = sys.argv[2], sys.argv[3:]
    scored = []
    for m in models:
        d = json.load(open(m))
        scored.append((abs(d["rate"] - 0.001), m))
    scored.sort()
    open(best, "w").write(open(scored[0][1]).read())
elif mode == "report":
    best, report = sys.argv[2:4]
    token = os.environ.get("TOKEN", "")
    # A careless task: it prints the secret. expc must redact it from the logs.
    print("signing with", token)
    print("token:", token, file=sys.stderr)
    json.dump({"best": json.load(open(best)), "signed": len(token) > 0}, open(report, "w"))

#!/usr/bin/env python3
"""Merge the detections of every shard into one file, and score them if labels are known.

When the image directory holds an annotations.json, the metrics report the mean IoU
between detected and labelled boxes and the share of images found with an IoU of 0.5 or
more; otherwise they only count the detections.
"""

import argparse
import json
import os


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", required=True, help="the directory the shards came from")
    parser.add_argument("--out", required=True, help="merged JSON lines file to write")
    parser.add_argument("--metrics", required=True, help="metrics to write (JSON)")
    parser.add_argument("--detections", nargs="+", required=True, help="one file per shard")
    args = parser.parse_args()

    detections = []
    for path in args.detections:
        with open(path) as f:
            detections.extend(json.loads(line) for line in f if line.strip())
    detections.sort(key=lambda d: d["image"])

    with open(args.out, "w") as f:
        for d in detections:
            f.write(json.dumps(d) + "\n")

    metrics = {"detections": len(detections)}
    labels = os.path.join(args.images, "annotations.json")
    if os.path.exists(labels):
        with open(labels) as f:
            truth = {entry["image"]: entry["box"] for entry in json.load(f)["images"]}
        ious = [iou(d["box"], truth[d["image"]]) for d in detections if d["image"] in truth]
        if ious:
            metrics["mean_iou"] = sum(ious) / len(ious)
            metrics["hit_rate"] = sum(v >= 0.5 for v in ious) / len(ious)
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Train a tiny box regressor: from an image's row and column brightness to its box.

A stand-in for a real detector, small enough to train in seconds on a CPU: a linear model,
fitted by stochastic gradient descent, maps the normalised mean brightness of every row and
every column of the image to the box's four edges. The weights are written in the
safetensors layout (a length-prefixed JSON header, then little-endian float32 data).
"""

import argparse
import json
import os
import random
import struct


def read_pgm(path):
    """Width, height and pixels of an 8-bit binary PGM file (without header comments)."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    magic, width, height, maxval = fields
    if magic != b"P5" or int(maxval) != 255:
        raise SystemExit(f"{path}: not an 8-bit binary PGM")
    width, height = int(width), int(height)
    # Exactly one whitespace byte separates the header from the pixels.
    return width, height, data[pos + 1 : pos + 1 + width * height]


def profile(path):
    """Normalised mean brightness of each column, then of each row."""
    width, height, pixels = read_pgm(path)
    cols = [sum(pixels[y * width + x] for y in range(height)) / height for x in range(width)]
    rows = [sum(pixels[y * width : (y + 1) * width]) / width for y in range(height)]
    values = []
    for line in (cols, rows):
        low, high = min(line), max(line)
        values.extend((v - low) / (high - low or 1.0) for v in line)
    return values


def load_split(directory):
    with open(os.path.join(directory, "annotations.json")) as f:
        annotations = json.load(f)
    size = annotations["size"]
    samples = []
    for entry in annotations["images"]:
        x = profile(os.path.join(directory, entry["image"]))
        y = [edge / size for edge in entry["box"]]
        samples.append((x, y))
    return size, samples


def predict(weights, bias, x):
    return [b + sum(w * v for w, v in zip(row, x)) for row, b in zip(weights, bias)]


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    data = bytearray()
    for name, (shape, values) in tensors.items():
        start = len(data)
        data += struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [start, len(data)]}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        f.write(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", required=True, help="training split directory")
    parser.add_argument("--val", required=True, help="validation split directory")
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--l2", type=float, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="weights to write (safetensors)")
    parser.add_argument("--metrics", required=True, help="metrics to write (JSON)")
    args = parser.parse_args()

    size, train = load_split(args.train)
    _, val = load_split(args.val)
    features = len(train[0][0])
    rng = random.Random(args.seed)
    weights = [[rng.gauss(0.0, 0.01) for _ in range(features)] for _ in range(4)]
    bias = [0.25, 0.25, 0.75, 0.75]

    order = list(range(len(train)))
    loss = 0.0
    for _ in range(args.epochs):
        rng.shuffle(order)
        loss = 0.0
        for i in order:
            x, y = train[i]
            out = predict(weights, bias, x)
            for k in range(4):
                err = out[k] - y[k]
                loss += err * err
                row = weights[k]
                for j in range(features):
                    row[j] -= args.lr * (err * x[j] + args.l2 * row[j])
                bias[k] -= args.lr * err

    ious = [iou(predict(weights, bias, x), y) for x, y in val]
    metrics = {
        "train_mse": loss / (4 * len(train)),
        "val_mean_iou": sum(ious) / len(ious),
        "val_hit_rate": sum(v >= 0.5 for v in ious) / len(ious),
        "val_images": len(val),
    }
    write_safetensors(
        args.out,
        {"weight": ([4, features], [w for row in weights for w in row]), "bias": ([4], bias)},
        {
            "kind": "profile-box-regressor",
            "size": str(size),
            "lr": str(args.lr),
            "seed": str(args.seed),
        },
    )
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Detect the box in one shard of a directory of images, with weights from train.py.

The images of the directory, sorted by name, are dealt round-robin into SHARDS shards;
this program handles shard SHARD and writes one JSON line per image:
{"image": NAME, "box": [x0, y0, x1, y1]} in pixels.
"""

import argparse
import json
import os
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


def read_safetensors(path):
    """Tensors of a safetensors file holding float32 data, as {name: (shape, values)}."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {info['dtype']}, not F32")
        start, end = info["data_offsets"]
        tensors[name] = (info["shape"], struct.unpack(f"<{(end - start) // 4}f", data[start:end]))
    return header.get("__metadata__", {}), tensors


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", required=True, help="safetensors file from train.py")
    parser.add_argument("--images", required=True, help="directory of PGM images")
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--shards", type=int, required=True)
    parser.add_argument("--out", required=True, help="JSON lines file to write")
    args = parser.parse_args()
    if not 0 <= args.shard < args.shards:
        raise SystemExit(f"shard {args.shard} is not in 0..{args.shards}")

    metadata, tensors = read_safetensors(args.weights)
    size = int(metadata["size"])
    (rows, features), flat = tensors["weight"]
    weights = [flat[k * features : (k + 1) * features] for k in range(rows)]
    bias = tensors["bias"][1]

    names = sorted(n for n in os.listdir(args.images) if n.endswith(".pgm"))
    with open(args.out, "w") as out:
        for name in names[args.shard :: args.shards]:
            x = profile(os.path.join(args.images, name))
            edges = [b + sum(w * v for w, v in zip(row, x)) for row, b in zip(weights, bias)]
            box = [round(min(max(e, 0.0), 1.0) * size, 1) for e in edges]
            out.write(json.dumps({"image": name, "box": box}) + "\n")


if __name__ == "__main__":
    main()

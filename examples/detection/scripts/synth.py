#!/usr/bin/env python3
"""Make a small synthetic detection data set: grey images, each with one bright box.

Writes three directories (train, val, test). Each holds the images as binary PGM files and
an annotations.json that lists, for every image, its file name and its box as
[x0, y0, x1, y1] in pixels (x1 and y1 excluded). A stand-in for a real labelled data set,
small enough to make in a second.
"""

import argparse
import json
import os
import random


def make_image(rng, size):
    w, h = rng.randint(5, size // 2 + 2), rng.randint(5, size // 2 + 2)
    x0, y0 = rng.randint(0, size - w), rng.randint(0, size - h)
    pixels = bytearray()
    for y in range(size):
        for x in range(size):
            inside = x0 <= x < x0 + w and y0 <= y < y0 + h
            value = rng.gauss(200.0 if inside else 50.0, 18.0)
            pixels.append(max(0, min(255, int(value))))
    return bytes(pixels), [x0, y0, x0 + w, y0 + h]


def write_split(rng, directory, count, size, first):
    os.makedirs(directory, exist_ok=True)
    annotations = []
    for i in range(first, first + count):
        pixels, box = make_image(rng, size)
        name = f"img_{i:05d}.pgm"
        with open(os.path.join(directory, name), "wb") as f:
            f.write(b"P5\n%d %d\n255\n" % (size, size))
            f.write(pixels)
        annotations.append({"image": name, "box": box})
    with open(os.path.join(directory, "annotations.json"), "w") as f:
        json.dump({"size": size, "images": annotations}, f, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, required=True, help="images in all three splits")
    parser.add_argument("--size", type=int, required=True, help="width and height in pixels")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--train", required=True, help="directory to write the training split to")
    parser.add_argument("--val", required=True, help="directory to write the validation split to")
    parser.add_argument("--test", required=True, help="directory to write the test split to")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    n_val = n_test = max(1, args.images // 5)
    n_train = args.images - n_val - n_test
    write_split(rng, args.train, n_train, args.size, 0)
    write_split(rng, args.val, n_val, args.size, n_train)
    write_split(rng, args.test, n_test, args.size, n_train + n_val)


if __name__ == "__main__":
    main()

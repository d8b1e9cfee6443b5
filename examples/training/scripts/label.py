#!/usr/bin/env python3
"""Write a one-line label of a training: its optimiser, learning rate and layers."""

import argparse


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--optimizer", required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--layers", type=int, nargs="*", default=[])
    args = parser.parse_args()
    layers = "x".join(str(n) for n in args.layers) or "none"
    with open(args.out, "w") as f:
        f.write(f"{args.optimizer}, lr {args.lr}, hidden layers {layers}\n")


if __name__ == "__main__":
    main()

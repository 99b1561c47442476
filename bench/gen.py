#!/usr/bin/env python3
"""Writes a benchmark workload as local files, to be uploaded once with `rclone copy`.

    gen.py DIR COUNT SIZE_BYTES LAYOUT     # LAYOUT: flat (oNNNNNNN) or dirs (dNNNN/oNNNNNNN, 1000 per dir)
    gen.py --keys COUNT LAYOUT EVERY        # prints the keys i with i % EVERY == 0 (the "missing" 5%)

Contents are random (incompressible); names are deterministic so run.sh can name subsets.
"""
import os
import sys

PER_DIR = 1000
CHUNK = 8 * 1024 * 1024


def key(i: int, layout: str) -> str:
    if layout == "dirs":
        return f"d{i // PER_DIR:04d}/o{i:07d}"
    if layout == "flat":
        return f"o{i:07d}"
    raise SystemExit(f"unknown layout {layout!r} (flat or dirs)")


def write(root: str, count: int, size: int, layout: str) -> None:
    made = set()
    for i in range(count):
        path = os.path.join(root, key(i, layout))
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                n = min(left, CHUNK)
                f.write(os.urandom(n))
                left -= n


def main() -> None:
    args = sys.argv[1:]
    if len(args) == 4 and args[0] == "--keys":
        count, layout, every = int(args[1]), args[2], int(args[3])
        for i in range(0, count, every):
            print(key(i, layout))
        return
    if len(args) != 4:
        raise SystemExit(__doc__)
    root, count, size, layout = args[0], int(args[1]), int(args[2]), args[3]
    write(root, count, size, layout)


if __name__ == "__main__":
    main()

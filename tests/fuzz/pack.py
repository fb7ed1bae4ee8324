"""Packs a folder into the container the dataset fuzz harness unpacks (fuzz_dataset.c):
records of u8 name length, name, u32 little-endian data length, data.
usage: pack.py DIR OUT"""
import os
import struct
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    blob = b""
    for root, _, files in sorted(os.walk(src)):
        for f in sorted(files):
            p = os.path.join(root, f)
            name = os.path.relpath(p, src).encode()
            data = open(p, "rb").read()
            blob += struct.pack("<B", len(name)) + name + struct.pack("<I", len(data)) + data
    open(out, "wb").write(blob)


main()
